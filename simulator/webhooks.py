"""Shopify webhooks as Shopify sends them: the `inventory_levels/update` payload, headers and signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from simulator.gids import inventory_level_gid
from simulator.instants import format_instant, format_local
from simulator.store import Shop

INVENTORY_LEVELS_UPDATE = "inventory_levels/update"
INVENTORY_LEVELS_DISCONNECT = "inventory_levels/disconnect"
APP_UNINSTALLED = "app/uninstalled"


def inventory_level_payload(
    level_number: int,
    location_id: int,
    inventory_item_id: int,
    available: int,
    updated_at: datetime,
    timezone: str,
) -> dict[str, Any]:
    """The reference example's shape; ids are exact JSON integers, `updated_at` in the shop's offset, and the
    level's own gid (its number is not the location's)."""
    return {
        "inventory_item_id": inventory_item_id,
        "location_id": location_id,
        "available": available,
        "updated_at": format_local(updated_at, timezone),
        "admin_graphql_api_id": inventory_level_gid(level_number, inventory_item_id),
    }


def disconnect_payload(location_id: int, inventory_item_id: int) -> dict[str, Any]:
    """inventory_levels/disconnect carries only the two ids (no updated_at: it happened when triggered)."""
    return {"inventory_item_id": inventory_item_id, "location_id": location_id}


def shop_payload(shop: Shop) -> dict[str, Any]:
    """`app/uninstalled` carries the Shop resource (the reference example's shape, the fields we know)."""
    return {
        "id": shop.id,
        "name": shop.name,
        "email": shop.email,
        "domain": shop.domain,
        "myshopify_domain": shop.domain,
        "currency": shop.currency,
        "iana_timezone": shop.timezone,
        "created_at": format_local(shop.created_at, shop.timezone),
    }


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(secret, raw body)): the X-Shopify-Hmac-Sha256 header."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def headers(
    body: bytes,
    *,
    topic: str,
    secret: str,
    shop_domain: str,
    webhook_id: str,
    event_id: str,
    api_version: str,
    triggered_at: datetime,
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Triggered-At": format_instant(triggered_at),
    }
