"""Reads of Shopify data as flat rows, ready for the warehouse's `raw_shopify` tables.

Each function pages through one stream with the client and flattens GraphQL nodes into dicts whose keys
are the raw table's columns. Ids stay gid strings; instants are aware UTC datetimes; money is a string
decimal in shop currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from backinstock.clock import format_instant, parse_instant
from backinstock.shopify import queries
from backinstock.shopify.client import ShopifyClient


def updated_since_filter(since: datetime | None) -> str | None:
    """Shopify's search syntax for an incremental read, or None for everything."""
    return None if since is None else f"updated_at:>='{format_instant(since)}'"


def _instant(value: str | None) -> datetime | None:
    return None if value is None else parse_instant(value)


def read_shop(client: ShopifyClient) -> dict[str, Any]:
    shop = client.execute(queries.SHOP)["shop"]
    return {
        "shop": client.shop.domain,
        "shop_id": shop["id"],
        "name": shop["name"],
        "currency_code": shop["currencyCode"],
        "iana_timezone": shop["ianaTimezone"],
    }


def read_locations(client: ShopifyClient) -> Iterator[dict[str, Any]]:
    for node in client.paginate(queries.LOCATIONS, {}, ("locations",)):
        yield {
            "shop": client.shop.domain,
            "location_id": node["id"],
            "name": node["name"],
            "is_active": node["isActive"],
            "fulfills_online_orders": node["fulfillsOnlineOrders"],
        }


def read_inventory_levels(
    client: ShopifyClient, location_ids: list[str], updated_since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The `available` quantity of every level changed since `updated_since` (every level when None),
    location by location, deactivated levels included (`is_active` false)."""
    search = updated_since_filter(updated_since)
    for location_id in location_ids:
        variables = {"locationId": location_id, "query": search}
        for node in client.paginate(
            queries.LOCATION_INVENTORY_LEVELS, variables, ("location", "inventoryLevels")
        ):
            available = next((q for q in node["quantities"] if q["name"] == "available"), None)
            yield {
                "shop": client.shop.domain,
                "inventory_level_id": node["id"],
                "inventory_item_id": node["item"]["id"],
                "location_id": location_id,
                "available": None if available is None else available["quantity"],
                "is_active": node.get("isActive", True) is not False,
                "updated_at": _instant((available or {}).get("updatedAt") or node["updatedAt"]),
            }


def read_level_changes(
    client: ShopifyClient, location_ids: list[str], updated_since: datetime
) -> Iterator[dict[str, Any]]:
    """Which variant's `available` quantity changed at or after `updated_since`, where and when, and to
    what: the reconciliation check's question, far cheaper than a poll of the levels."""
    variables = {"query": updated_since_filter(updated_since)}
    for location_id in location_ids:
        for node in client.paginate(
            queries.CHANGED_INVENTORY_LEVELS,
            {**variables, "locationId": location_id},
            ("location", "inventoryLevels"),
        ):
            available = next((q for q in node["quantities"] if q["name"] == "available"), None)
            variant = (node.get("item") or {}).get("variant") or {}
            yield {
                "shop": client.shop.domain,
                "variant_id": variant.get("id"),
                "location_id": location_id,
                "available": None if available is None else available["quantity"],
                "updated_at": _instant((available or {}).get("updatedAt") or node["updatedAt"]),
            }


def read_products(client: ShopifyClient, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
    variables = {"query": updated_since_filter(updated_since)}
    for node in client.paginate(queries.PRODUCTS, variables, ("products",)):
        yield {
            "shop": client.shop.domain,
            "product_id": node["id"],
            "title": node["title"],
            "handle": node["handle"],
            "status": node["status"],
            "updated_at": _instant(node["updatedAt"]),
        }


def read_variants(client: ShopifyClient, updated_since: datetime | None = None) -> Iterator[dict[str, Any]]:
    variables = {"query": updated_since_filter(updated_since)}
    for node in client.paginate(queries.PRODUCT_VARIANTS, variables, ("productVariants",)):
        item = node.get("inventoryItem") or {}
        yield {
            "shop": client.shop.domain,
            "variant_id": node["id"],
            "product_id": node["product"]["id"],
            "inventory_item_id": item.get("id"),
            "title": node["title"],
            "sku": node.get("sku"),
            "price": node.get("price"),
            "inventory_policy": node["inventoryPolicy"],
            "tracked": bool(item.get("tracked")),
            "updated_at": _instant(node["updatedAt"]),
        }


ORDER_REFUNDS_PAGE = 5  # refunds read with an order (queries.ORDERS); more are read on their own


@dataclass(frozen=True)
class OrderRead:
    """One order as read: its row, its line items, and the lines of its refunds (flat, one per refund
    line, each with its refund's id and instant)."""

    order: dict[str, Any]
    lines: list[dict[str, Any]]
    refund_lines: list[dict[str, Any]]


def read_orders(client: ShopifyClient, updated_since: datetime | None = None) -> Iterator[OrderRead]:
    """Each order changed since `updated_since` with all of its line items and refunds (paging lines and
    refund lines beyond the first page). Amounts are Shopify's shop-currency figures."""
    variables = {"query": updated_since_filter(updated_since)}
    for node in client.paginate(queries.ORDERS, variables, ("orders",)):
        order_id = node["id"]
        line_nodes = list(node["lineItems"]["nodes"])
        if node["lineItems"]["pageInfo"]["hasNextPage"]:
            line_nodes = list(
                client.paginate(queries.ORDER_LINE_ITEMS, {"orderId": order_id}, ("order", "lineItems"))
            )
        refunds = node.get("refunds") or []
        if len(refunds) >= ORDER_REFUNDS_PAGE:
            refunds = client.execute(queries.ORDER_REFUNDS, {"orderId": order_id})["order"]["refunds"]
        refund_lines = []
        for refund in refunds:
            refund_line_nodes = list(refund["refundLineItems"]["nodes"])
            if refund["refundLineItems"]["pageInfo"]["hasNextPage"]:
                refund_line_nodes = list(
                    client.paginate(
                        queries.REFUND_LINE_ITEMS, {"refundId": refund["id"]}, ("refund", "refundLineItems")
                    )
                )
            refund_lines += [
                _refund_line(client.shop.domain, order_id, refund, line) for line in refund_line_nodes
            ]
        yield OrderRead(
            _order_row(client.shop.domain, node),
            [_line_row(client.shop.domain, order_id, line) for line in line_nodes],
            refund_lines,
        )


def _contact(value: str | None) -> str | None:
    return (value or "").strip().lower() or None


def _shop_amount(money_bag: dict[str, Any] | None) -> str | None:
    return None if money_bag is None else money_bag["shopMoney"]["amount"]


def _order_row(shop: str, node: dict[str, Any]) -> dict[str, Any]:
    total = node["totalPriceSet"]
    customer = node.get("customer") or {}
    journey = node.get("customerJourneySummary") or {}
    landing_pages = [
        visit["landingPage"]
        for visit in (journey.get("firstVisit"), journey.get("lastVisit"))
        if visit and visit.get("landingPage")
    ]
    return {
        "shop": shop,
        "order_id": node["id"],
        "name": node["name"],
        "email": _contact(node.get("email")),
        "phone": node.get("phone") or None,
        "created_at": _instant(node["createdAt"]),
        "updated_at": _instant(node["updatedAt"]),
        "cancelled_at": _instant(node.get("cancelledAt")),
        "is_test": bool(node.get("test")),
        "currency_code": total["shopMoney"]["currencyCode"],
        "total_price": total["shopMoney"]["amount"],
        "presentment_currency_code": node.get("presentmentCurrencyCode"),
        "total_price_presentment": total["presentmentMoney"]["amount"],
        "current_total_price": _shop_amount(node.get("currentTotalPriceSet")),
        "customer_id": customer.get("id"),
        "customer_email": _contact((customer.get("defaultEmailAddress") or {}).get("emailAddress")),
        "customer_phone": (customer.get("defaultPhoneNumber") or {}).get("phoneNumber"),
        "custom_attributes": json.dumps({a["key"]: a["value"] for a in node.get("customAttributes") or []}),
        "landing_pages": json.dumps(list(dict.fromkeys(landing_pages))),
    }


def _line_row(shop: str, order_id: str, line: dict[str, Any]) -> dict[str, Any]:
    discounts = sum(
        (
            Decimal(a["allocatedAmountSet"]["shopMoney"]["amount"])
            for a in line.get("discountAllocations") or []
        ),
        Decimal(0),
    )
    return {
        "shop": shop,
        "order_id": order_id,
        "line_item_id": line["id"],
        "variant_id": (line.get("variant") or {}).get("id"),
        "product_id": (line.get("product") or {}).get("id"),
        "quantity": line["quantity"],
        "current_quantity": line.get("currentQuantity"),
        "original_total": _shop_amount(line["originalTotalSet"]),
        "discount_total": f"{discounts:.2f}",
        "current_total": _shop_amount(line.get("priceAfterAllDiscountsBeforeTaxesSet")),
    }


def _refund_line(shop: str, order_id: str, refund: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    return {
        "shop": shop,
        "order_id": order_id,
        "refund_id": refund["id"],
        "refunded_at": _instant(refund.get("createdAt")),
        "line_item_id": line["lineItem"]["id"],
        "quantity": line["quantity"],
        "subtotal": _shop_amount(line["subtotalSet"]),
    }
