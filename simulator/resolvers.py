"""The store seen through the Admin GraphQL schema: the root value graphql-core executes against.

Each object becomes a dict keyed by GraphQL field name; fields with arguments or that lead elsewhere are
callables `(info, **args)`, which graphql-core's default resolver calls, so nothing is built before it is
asked for. Fields left out resolve to null. Connections page with opaque keyset cursors: a cursor holds the
sort key of the last row served, so a page boundary survives rows being added between calls.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from graphql import GraphQLError

from simulator.gids import gid, gid_number, inventory_level_gid
from simulator.instants import format_instant
from simulator.search import SearchSyntaxError, matches, parse_search
from simulator.store import ZERO, Level, LineItem, Location, Order, Product, Refund, Store, Variant

MAX_PAGE_SIZE = 250
QUANTITY_NAMES = (
    "available",
    "on_hand",
    "committed",
    "incoming",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
)


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as bad:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from bad


def connection(
    rows: Sequence[Any],
    sort_key: Callable[[Any], list[Any]],
    to_node: Callable[[Any], dict[str, Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    **_ignored: Any,
) -> dict[str, Any]:
    """One page of `rows` as a Relay connection with `nodes`, `edges` and `pageInfo`."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise GraphQLError(f"The {name} argument must be between 0 and {MAX_PAGE_SIZE}")
    ordered = sorted(rows, key=sort_key, reverse=reverse)
    keys = [sort_key(row) for row in ordered]

    def beyond(key: list[Any], bound: list[Any]) -> bool:
        return key < bound if reverse else key > bound

    low, high = 0, len(ordered)
    if after is not None:
        bound = decode_cursor(after)
        low = next((i for i, key in enumerate(keys) if beyond(key, bound)), len(ordered))
    if before is not None:
        bound = decode_cursor(before)
        high = next((i for i, key in enumerate(keys) if not beyond(bound, key)), len(ordered))
    high = max(low, high)
    start, stop = low, high
    if first is not None:
        stop = min(stop, start + first)
    if last is not None:
        start = max(start, stop - last)
    page = list(zip(ordered[start:stop], keys[start:stop], strict=True))
    edges = [{"cursor": encode_cursor(key), "node": to_node(row)} for row, key in page]
    return {
        "nodes": [edge["node"] for edge in edges],
        "edges": edges,
        "pageInfo": {
            "hasNextPage": stop < len(ordered),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def searched(rows: Sequence[Any], instants: Callable[[Any], dict[str, Any]], query: str | None) -> list[Any]:
    try:
        predicates = parse_search(query)
    except SearchSyntaxError as bad:
        raise GraphQLError(str(bad)) from bad
    return [row for row in rows if matches(predicates, instants(row))]


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    value = {"amount": f"{amount:.2f}", "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": value}


def order_money(order: Order, presentment: Decimal, shop: Decimal | None = None) -> dict[str, Any]:
    """A MoneyBag of an order: the presentment amount, and in shop currency at the order's own rate."""
    return {
        "presentmentMoney": {"amount": f"{presentment:.2f}", "currencyCode": order.presentment_currency},
        "shopMoney": {
            "amount": f"{order.shop_money(presentment) if shop is None else shop:.2f}",
            "currencyCode": order.shop_currency,
        },
    }


Served = Callable[..., None]


class AdminGraph:
    """Builds GraphQL-shaped views of one store. `served(kind, **fields)` hears every level, variant,
    product and location handed out, so the ground truth knows what the product could learn and when."""

    def __init__(self, store: Store, served: Served | None = None) -> None:
        self.store = store
        self.served = served or (lambda kind, **fields: None)

    def root(self) -> dict[str, Any]:
        return {
            "shop": lambda info: self.shop(),
            "locations": self._locations,
            "location": lambda info, id=None: self._by_gid(
                id, "Location", self.store.locations, self.location
            ),
            "products": self._products,
            "product": lambda info, id: self._by_gid(id, "Product", self.store.products, self.product),
            "productVariants": self._variants,
            "productVariant": lambda info, id: self._by_gid(
                id, "ProductVariant", self.store.variants, self.variant
            ),
            "orders": self._orders,
            "order": lambda info, id: self._by_gid(id, "Order", self.store.orders, self.order),
            "refund": lambda info, id: self._refund_by_gid(id),
        }

    @staticmethod
    def _by_gid(
        text: str | None, kind: str, table: dict[int, Any], to_node: Callable[[Any], dict]
    ) -> dict | None:
        number = gid_number(text or "", kind)
        return to_node(table[number]) if number in table else None

    def shop(self) -> dict[str, Any]:
        shop = self.store.shop
        return {
            "id": gid("Shop", shop.id),
            "name": shop.name,
            "email": shop.email,
            "myshopifyDomain": shop.domain,
            "currencyCode": shop.currency,
            "ianaTimezone": shop.timezone,
            "createdAt": format_instant(shop.created_at),
            "updatedAt": format_instant(shop.created_at),
        }

    def _locations(
        self, info: Any, includeInactive: bool = False, query: str | None = None, **page: Any
    ) -> dict:
        rows = [
            location for location in self.store.locations.values() if includeInactive or location.is_active
        ]
        rows = searched(rows, lambda loc: {"updated_at": loc.created_at, "created_at": loc.created_at}, query)
        return connection(
            rows, lambda loc: [loc.id], self._served(self.location, self._location_served), **page
        )

    def location(self, location: Location) -> dict[str, Any]:
        return {
            "id": gid("Location", location.id),
            "legacyResourceId": str(location.id),
            "name": location.name,
            "isActive": location.is_active,
            "fulfillsOnlineOrders": location.fulfills_online_orders,
            "createdAt": format_instant(location.created_at),
            "updatedAt": format_instant(location.created_at),
            "inventoryLevels": lambda info, query=None, includeInactive=False, **page: self._levels(
                [lv for lv in self.store.levels.values() if lv.location_id == location.id],
                query,
                page,
                includeInactive,
                self._served(self.level, self._level_served),
            ),
        }

    def _levels(
        self,
        levels: list[Level],
        query: str | None,
        page: dict[str, Any],
        include_inactive: bool = False,
        to_node: Callable[[Level], dict[str, Any]] | None = None,
    ) -> dict:
        """A deactivated level is returned only when asked for (`includeInactive`), with isActive false."""
        levels = [lv for lv in levels if include_inactive or lv.is_active]
        rows = searched(levels, lambda lv: {"updated_at": lv.updated_at, "created_at": lv.created_at}, query)
        return connection(
            rows, lambda lv: [lv.location_id, lv.inventory_item_id], to_node or self.level, **page
        )

    # What the sync reads (root connections, a location's levels) is heard by `served`; the same objects
    # reached another way (an order's line, a single variant looked up) are not: nothing syncs from them.

    def _served(self, to_node: Callable[[Any], dict[str, Any]], hear: Callable[[Any], None]):
        def node(row: Any) -> dict[str, Any]:
            hear(row)
            return to_node(row)

        return node

    def _location_served(self, location: Location) -> None:
        self.served(
            "served_location",
            location_id=gid("Location", location.id),
            is_active=location.is_active,
            fulfills_online_orders=location.fulfills_online_orders,
        )

    def _level_served(self, level: Level) -> None:
        self.served(
            "served_level",
            inventory_level_id=inventory_level_gid(level.id, level.inventory_item_id),
            inventory_item_id=gid("InventoryItem", level.inventory_item_id),
            location_id=gid("Location", level.location_id),
            available=level.available,
            is_active=level.is_active,
            updated_at=format_instant(level.updated_at),
        )

    def _product_served(self, product: Product) -> None:
        self.served("served_product", product_id=gid("Product", product.id), status=product.status)

    def _variant_served(self, variant: Variant) -> None:
        self.served(
            "served_variant",
            variant_id=gid("ProductVariant", variant.id),
            product_id=gid("Product", variant.product_id),
            inventory_item_id=gid("InventoryItem", variant.inventory_item_id),
            tracked=variant.tracked,
            inventory_policy=variant.inventory_policy,
        )

    def level(self, level: Level) -> dict[str, Any]:
        def quantities(info: Any, names: list[str]) -> list[dict[str, Any]]:
            unknown = [name for name in names if name not in QUANTITY_NAMES]
            if unknown:
                raise GraphQLError(f"Invalid quantity names: {', '.join(unknown)}")
            return [self._quantity(level, name) for name in names]

        return {
            "id": inventory_level_gid(level.id, level.inventory_item_id),
            "isActive": level.is_active,
            "createdAt": format_instant(level.created_at),
            "updatedAt": format_instant(level.updated_at),
            "item": lambda info: self.inventory_item(self.store.variant_by_item[level.inventory_item_id]),
            "location": lambda info: self.location(self.store.locations[level.location_id]),
            "quantities": quantities,
        }

    @staticmethod
    def _quantity(level: Level, name: str) -> dict[str, Any]:
        """`available` and `on_hand` follow the stock (nothing is ever committed here); the rest stay 0."""
        moving = name in ("available", "on_hand")
        return {
            "id": f"gid://shopify/InventoryQuantity/{level.location_id}?inventory_item_id="
            f"{level.inventory_item_id}&name={name}",
            "name": name,
            "quantity": level.available if moving else 0,
            "updatedAt": format_instant(level.updated_at if moving else level.created_at),
        }

    def inventory_item(self, variant: Variant) -> dict[str, Any]:
        return {
            "id": gid("InventoryItem", variant.inventory_item_id),
            "legacyResourceId": str(variant.inventory_item_id),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "createdAt": format_instant(variant.created_at),
            "updatedAt": format_instant(variant.created_at),
            "variant": lambda info: self.variant(variant),
            "inventoryLevels": lambda info, query=None, includeInactive=False, **page: self._levels(
                self.store.levels_of(variant), query, page, includeInactive
            ),
        }

    def _products(self, info: Any, query: str | None = None, sortKey: str = "ID", **page: Any) -> dict:
        rows = searched(
            list(self.store.products.values()),
            lambda p: {"updated_at": p.updated_at or p.created_at, "created_at": p.created_at},
            query,
        )
        return connection(
            rows,
            _sort_key(sortKey, lambda p: p.updated_at or p.created_at, lambda p: p.title),
            self._served(self.product, self._product_served),
            **page,
        )

    def product(self, product: Product) -> dict[str, Any]:
        variants = [v for v in self.store.variants.values() if v.product_id == product.id]
        return {
            "id": gid("Product", product.id),
            "legacyResourceId": str(product.id),
            "title": product.title,
            "handle": product.handle,
            "vendor": product.vendor,
            "status": product.status,
            "createdAt": format_instant(product.created_at),
            "updatedAt": format_instant(product.updated_at or product.created_at),
            "totalInventory": sum(self.store.sellable(v) for v in variants if v.tracked),
            "variants": lambda info, sortKey="POSITION", **page: connection(
                variants, lambda v: [v.id], self.variant, **page
            ),
        }

    def _variants(self, info: Any, query: str | None = None, sortKey: str = "ID", **page: Any) -> dict:
        rows = searched(
            list(self.store.variants.values()),
            lambda v: {"updated_at": v.updated_at or v.created_at, "created_at": v.created_at},
            query,
        )
        return connection(
            rows,
            _sort_key(sortKey, lambda v: v.updated_at or v.created_at, lambda v: v.title),
            self._served(self.variant, self._variant_served),
            **page,
        )

    def variant(self, variant: Variant) -> dict[str, Any]:
        product = self.store.products[variant.product_id]
        return {
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": str(variant.id),
            "title": variant.title,
            "displayName": f"{product.title} - {variant.title}",
            "sku": variant.sku,
            "price": f"{variant.price:.2f}",
            "inventoryPolicy": variant.inventory_policy,
            "inventoryQuantity": sum(level.available for level in self.store.levels_of(variant)),
            "availableForSale": self.store.can_sell(variant),
            "createdAt": format_instant(variant.created_at),
            "updatedAt": format_instant(variant.updated_at or variant.created_at),
            "product": lambda info: self.product(product),
            "inventoryItem": lambda info: self.inventory_item(variant),
        }

    def _orders(self, info: Any, query: str | None = None, sortKey: str = "ID", **page: Any) -> dict:
        rows = searched(
            list(self.store.orders.values()),
            lambda o: {"updated_at": o.updated_at, "created_at": o.created_at},
            query,
        )
        return connection(
            rows, _sort_key(sortKey, lambda o: o.updated_at, lambda o: o.name), self.order, **page
        )

    def order(self, order: Order) -> dict[str, Any]:
        checkout = order.checkout
        refunded = sum((r.subtotal for refund in order.refunds for r in refund.lines), ZERO)
        return {
            "id": gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "email": order.email,
            "phone": None,
            "createdAt": format_instant(order.created_at),
            "updatedAt": format_instant(order.updated_at),
            "processedAt": format_instant(order.created_at),
            "cancelledAt": format_instant(order.cancelled_at) if order.cancelled_at else None,
            "cancelReason": "CUSTOMER" if order.cancelled_at else None,
            "closed": False,
            "test": checkout.test,
            "currencyCode": order.shop_currency,
            "presentmentCurrencyCode": order.presentment_currency,
            "taxesIncluded": False,
            "customer": self.customer(checkout.customer) if checkout.customer else None,
            "customAttributes": [{"key": key, "value": value} for key, value in checkout.custom_attributes],
            "customerJourneySummary": self.journey(order) if checkout.journey_ready else None,
            "subtotalPriceSet": order_money(order, order.subtotal),
            "totalShippingPriceSet": order_money(order, order.shipping),
            "totalPriceSet": order_money(order, order.total),
            "currentTotalPriceSet": order_money(order, order.current_total),
            "totalRefundedSet": order_money(order, refunded),
            "lineItems": lambda info, **page: connection(
                order.lines, lambda line: [line.id], lambda line: self.line_item(order, line), **page
            ),
            "refunds": lambda info, first=None: [
                self.refund(order, refund) for refund in order.refunds[:first]
            ],
        }

    @staticmethod
    def customer(customer: Any) -> dict[str, Any]:
        return {
            "id": gid("Customer", customer.id),
            "legacyResourceId": str(customer.id),
            "defaultEmailAddress": {"emailAddress": customer.email},
            "defaultPhoneNumber": None,
        }

    @staticmethod
    def journey(order: Order) -> dict[str, Any]:
        visit = {
            "id": gid("CustomerVisit", order.id),
            "landingPage": order.checkout.landing_page,
            "occurredAt": format_instant(order.created_at),
            "source": "email" if order.checkout.landing_page else "direct",
        }
        return {"ready": True, "firstVisit": visit, "lastVisit": visit}

    def line_item(self, order: Order, line: LineItem) -> dict[str, Any]:
        variant = self.store.variants[line.variant_id]
        product = self.store.products[variant.product_id]
        quantity = order.remaining_quantity(line)
        allocations = [{"allocatedAmountSet": order_money(order, line.discount)}] if line.discount else []
        return {
            "id": gid("LineItem", line.id),
            "name": f"{product.title} - {variant.title}",
            "title": product.title,
            "variantTitle": variant.title,
            "sku": variant.sku,
            "vendor": product.vendor,
            "quantity": line.quantity,
            "currentQuantity": quantity,
            "refundableQuantity": quantity,
            "customAttributes": [],
            "variant": lambda info: self.variant(variant),
            "product": lambda info: self.product(product),
            "originalUnitPriceSet": order_money(order, line.unit_price),
            "originalTotalSet": order_money(order, line.original_total),
            "discountedUnitPriceSet": order_money(order, line.unit_price),
            "discountedTotalSet": order_money(order, line.original_total),
            "totalDiscountSet": order_money(order, line.discount),
            "discountAllocations": allocations,
            "priceAfterAllDiscountsBeforeTaxesSet": order_money(
                order, order.remaining_net(line), order.line_shop_net(line)
            ),
        }

    def refund(self, order: Order, refund: Refund) -> dict[str, Any]:
        lines = {line.id: line for line in order.lines}
        total = sum((r.subtotal for r in refund.lines), ZERO)
        return {
            "id": gid("Refund", refund.id),
            "legacyResourceId": str(refund.id),
            "createdAt": format_instant(refund.created_at),
            "updatedAt": format_instant(refund.created_at),
            "processedAt": format_instant(refund.created_at),
            "totalRefundedSet": order_money(order, total),
            "refundLineItems": lambda info, **page: connection(
                refund.lines,
                lambda r: [r.line_item_id],
                lambda r: {
                    "id": gid("RefundLineItem", refund.id * 1000 + refund.lines.index(r)),
                    "quantity": r.quantity,
                    "restockType": "CANCEL" if refund.restocked else "NO_RESTOCK",
                    "restocked": refund.restocked,
                    "lineItem": lambda info: self.line_item(order, lines[r.line_item_id]),
                    "priceSet": order_money(order, lines[r.line_item_id].unit_price),
                    "subtotalSet": order_money(order, r.subtotal),
                    "totalTaxSet": order_money(order, ZERO),
                },
                **page,
            ),
        }

    def _refund_by_gid(self, text: str | None) -> dict[str, Any] | None:
        number = gid_number(text or "", "Refund")
        if number not in self.store.refunds:
            return None
        order, refund = self.store.refunds[number]
        return self.refund(order, refund)


def _sort_key(
    name: str, updated: Callable[[Any], Any], title: Callable[[Any], str]
) -> Callable[[Any], list[Any]]:
    """Rows ordered by the sort key, then id (Shopify's tie-break); keys are JSON-able for cursors."""
    if name in ("UPDATED_AT", "CREATED_AT", "PROCESSED_AT"):
        return lambda row: [format_instant(updated(row) if name == "UPDATED_AT" else row.created_at), row.id]
    if name in ("TITLE", "NAME"):
        return lambda row: [title(row), row.id]
    return lambda row: [row.id]
