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
    inventoryLevels(first: 150, after: $after, query: $query, includeInactive: true) {
      nodes {
        id
        isActive
        updatedAt
        item { id }
        quantities(names: ["available"]) { name quantity updatedAt }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

# The reconciliation check's cheap question, asked every few seconds: which levels changed since a moment,
# and of which variant. Pages are small: the bucket is charged the requested cost up front, and most
# answers are empty.
CHANGED_INVENTORY_LEVELS = """
query ChangedInventoryLevels($locationId: ID!, $after: String, $query: String) {
  location(id: $locationId) {
    inventoryLevels(first: 50, after: $after, query: $query) {
      nodes {
        updatedAt
        item { variant { id } }
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

# Money is read in shop currency (`shopMoney`): Shopify converts presentment-currency orders at the
# order's own rate. `discountAllocations` holds every discount on the line, order-level ones included.
LINE_ITEM_FIELDS = """
fragment LineItemFields on LineItem {
  id
  quantity
  currentQuantity
  variant { id }
  product { id }
  originalTotalSet { shopMoney { amount currencyCode } }
  discountAllocations { allocatedAmountSet { shopMoney { amount currencyCode } } }
  priceAfterAllDiscountsBeforeTaxesSet { shopMoney { amount currencyCode } }
}
"""

REFUND_LINE_ITEM_FIELDS = """
fragment RefundLineItemFields on RefundLineItem {
  lineItem { id }
  quantity
  subtotalSet { shopMoney { amount currencyCode } }
}
"""

REFUND_FIELDS = (
    """
fragment RefundFields on Refund {
  id
  createdAt
  refundLineItems(first: 5) {
    nodes { ...RefundLineItemFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + REFUND_LINE_ITEM_FIELDS
)

# Five orders of five lines and five refunds of five lines each stay under the 1,000-point ceiling even if
# the `refunds` list (not a connection) is charged per requested item; an order's further lines, refunds
# (asked again, longer) or a refund's further lines are read by the three documents below.
ORDERS = (
    """
query Orders($after: String, $query: String) {
  orders(first: 5, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {
      id
      name
      createdAt
      updatedAt
      cancelledAt
      test
      email
      phone
      currencyCode
      presentmentCurrencyCode
      customer {
        id
        defaultEmailAddress { emailAddress }
        defaultPhoneNumber { phoneNumber }
      }
      customAttributes { key value }
      customerJourneySummary {
        firstVisit { landingPage }
        lastVisit { landingPage }
      }
      totalPriceSet {
        shopMoney { amount currencyCode }
        presentmentMoney { amount currencyCode }
      }
      currentTotalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: 5) {
        nodes { ...LineItemFields }
        pageInfo { hasNextPage endCursor }
      }
      refunds(first: 5) { ...RefundFields }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + LINE_ITEM_FIELDS
    + REFUND_FIELDS
)

ORDER_REFUNDS = (
    """
query OrderRefunds($orderId: ID!) {
  order(id: $orderId) {
    refunds(first: 40) { ...RefundFields }
  }
}
"""
    + REFUND_FIELDS
)

ORDER_LINE_ITEMS = (
    """
query OrderLineItems($orderId: ID!, $after: String) {
  order(id: $orderId) {
    lineItems(first: 90, after: $after) {
      nodes { ...LineItemFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + LINE_ITEM_FIELDS
)

REFUND_LINE_ITEMS = (
    """
query RefundLineItems($refundId: ID!, $after: String) {
  refund(id: $refundId) {
    refundLineItems(first: 100, after: $after) {
      nodes { ...RefundLineItemFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + REFUND_LINE_ITEM_FIELDS
)

ALL = {
    "SHOP": SHOP,
    "LOCATIONS": LOCATIONS,
    "LOCATION_INVENTORY_LEVELS": LOCATION_INVENTORY_LEVELS,
    "CHANGED_INVENTORY_LEVELS": CHANGED_INVENTORY_LEVELS,
    "PRODUCTS": PRODUCTS,
    "PRODUCT_VARIANTS": PRODUCT_VARIANTS,
    "ORDERS": ORDERS,
    "ORDER_LINE_ITEMS": ORDER_LINE_ITEMS,
    "ORDER_REFUNDS": ORDER_REFUNDS,
    "REFUND_LINE_ITEMS": REFUND_LINE_ITEMS,
}
