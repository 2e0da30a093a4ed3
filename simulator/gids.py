"""Shopify global ids (`gid://shopify/Type/123`) and the inventory level's compound form."""

from __future__ import annotations


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def inventory_level_gid(level_number: int, inventory_item_id: int) -> str:
    """An InventoryLevel's gid: its own opaque number (not its location's), with the item."""
    return f"gid://shopify/InventoryLevel/{level_number}?inventory_item_id={inventory_item_id}"


def gid_number(text: str, kind: str) -> int | None:
    """The numeric id inside a gid of `kind`, or None when `text` is not one."""
    prefix = f"gid://shopify/{kind}/"
    if not isinstance(text, str) or not text.startswith(prefix):
        return None
    tail = text[len(prefix) :].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None
