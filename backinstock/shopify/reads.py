"""Reads of Shopify data as flat rows, ready for the warehouse's `raw_shopify` tables.

Each function pages through one stream with the client and flattens GraphQL nodes into dicts whose keys
are the raw table's columns. Ids stay gid strings; instants are aware UTC datetimes; money is a string
decimal in shop currency.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
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
    """The `available` quantity of every level changed since `updated_since`, location by location."""
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


def read_orders(
    client: ShopifyClient, updated_since: datetime | None = None
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each order changed since `updated_since` with all of its line items (paging them when > 10)."""
    variables = {"query": updated_since_filter(updated_since)}
    for node in client.paginate(queries.ORDERS, variables, ("orders",)):
        order_id = node["id"]
        line_nodes = list(node["lineItems"]["nodes"])
        if node["lineItems"]["pageInfo"]["hasNextPage"]:
            line_nodes = list(
                client.paginate(queries.ORDER_LINE_ITEMS, {"orderId": order_id}, ("order", "lineItems"))
            )
        total = node["totalPriceSet"]["shopMoney"]
        order = {
            "shop": client.shop.domain,
            "order_id": order_id,
            "name": node["name"],
            "email": (node.get("email") or "").strip().lower() or None,
            "created_at": _instant(node["createdAt"]),
            "updated_at": _instant(node["updatedAt"]),
            "cancelled_at": _instant(node.get("cancelledAt")),
            "currency_code": total["currencyCode"],
            "total_price": total["amount"],
            "custom_attributes": json.dumps(
                {a["key"]: a["value"] for a in node.get("customAttributes") or []}
            ),
        }
        lines = [
            {
                "shop": client.shop.domain,
                "order_id": order_id,
                "line_item_id": line["id"],
                "variant_id": (line.get("variant") or {}).get("id"),
                "product_id": (line.get("product") or {}).get("id"),
                "quantity": line["quantity"],
                "unit_price": line["originalUnitPriceSet"]["shopMoney"]["amount"],
            }
            for line in line_nodes
        ]
        yield order, lines
