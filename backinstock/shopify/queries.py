"""Every GraphQL document the product sends to the Shopify Admin API (validated in tests against 2026-10).

Page sizes keep each query's requested cost under Shopify's 1,000-point ceiling: flat connections of 250,
nested ones small enough that `first x first x fields` stays below it.
"""

SHOP = """
query Shop {
  shop { id name myshopifyDomain currencyCode ianaTimezone }
}
"""

LOCATIONS = """
query Locations($after: String) {
  locations(first: 250, after: $after, includeInactive: true) {
    nodes { id name isActive fulfillsOnlineOrders }
    pageInfo { hasNextPage endCursor }
  }
}
"""

LOCATION_INVENTORY_LEVELS = """
query LocationInventoryLevels($locationId: ID!, $after: String, $query: String) {
  location(id: $locationId) {
    inventoryLevels(first: 150, after: $after, query: $query) {
      nodes {
        id
        updatedAt
        item { id }
        quantities(names: ["available"]) { name quantity updatedAt }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

PRODUCTS = """
query Products($after: String, $query: String) {
  products(first: 250, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { id title handle status updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""

PRODUCT_VARIANTS = """
query ProductVariants($after: String, $query: String) {
  productVariants(first: 250, after: $after, query: $query, sortKey: ID) {
    nodes {
      id
      title
      sku
      price
      inventoryPolicy
      updatedAt
      product { id }
      inventoryItem { id tracked }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

LINE_ITEM_FIELDS = """
fragment LineItemFields on LineItem {
  id
  quantity
  variant { id }
  product { id }
  originalUnitPriceSet { shopMoney { amount currencyCode } }
}
"""

ORDERS = (
    """
query Orders($after: String, $query: String) {
  orders(first: 15, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {
      id
      name
      createdAt
      updatedAt
      cancelledAt
      email
      currencyCode
      customAttributes { key value }
      totalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 10) {
        nodes { ...LineItemFields }
        pageInfo { hasNextPage endCursor }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + LINE_ITEM_FIELDS
)

ORDER_LINE_ITEMS = (
    """
query OrderLineItems($orderId: ID!, $after: String) {
  order(id: $orderId) {
    lineItems(first: 100, after: $after) {
      nodes { ...LineItemFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + LINE_ITEM_FIELDS
)

ALL = {
    "SHOP": SHOP,
    "LOCATIONS": LOCATIONS,
    "LOCATION_INVENTORY_LEVELS": LOCATION_INVENTORY_LEVELS,
    "PRODUCTS": PRODUCTS,
    "PRODUCT_VARIANTS": PRODUCT_VARIANTS,
    "ORDERS": ORDERS,
    "ORDER_LINE_ITEMS": ORDER_LINE_ITEMS,
}
