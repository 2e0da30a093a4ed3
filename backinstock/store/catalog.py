"""The shop's variants as the apps need them: is a variant real, what is it called, where is its page.

The orchestration layer writes them after reading Shopify; the storefront reads them to accept signups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from backinstock.clock import utc
from backinstock.store.sql import upsert_newer
from backinstock.store.tables import catalog_variants

VARIANT_GID_PREFIX = "gid://shopify/ProductVariant/"
PRODUCT_GID_PREFIX = "gid://shopify/Product/"
# Built once: every signup asks it.
_VARIANT = sa.select(catalog_variants).where(
    catalog_variants.c.shop == sa.bindparam("shop"),
    catalog_variants.c.variant_id == sa.bindparam("variant_id"),
)


def variant_gid(value: str | int) -> str:
    """A variant id as Shopify's gid, from either the gid or the bare number a theme or pixel sends."""
    text = str(value).strip()
    return f"{VARIANT_GID_PREFIX}{text}" if text.isdigit() else text


def product_gid(value: str | int) -> str:
    text = str(value).strip()
    return f"{PRODUCT_GID_PREFIX}{text}" if text.isdigit() else text


def numeric_id(gid: str) -> str:
    """The number at the end of a gid (`gid://shopify/ProductVariant/123` -> `123`), for storefront URLs."""
    return gid.rsplit("/", 1)[-1].split("?", 1)[0]


def _variant_row(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    price = row.get("price")
    return {
        "shop": row["shop"].strip().lower(),
        "variant_id": variant_gid(row["variant_id"]),
        "product_id": product_gid(row["product_id"]),
        "product_title": row["product_title"],
        "variant_title": row["variant_title"],
        "handle": row["handle"],
        "sku": row.get("sku"),
        "price": None if price is None else Decimal(str(price)),
        "inventory_policy": row["inventory_policy"],
        "tracked": bool(row["tracked"]),
        "updated_at": utc(row["updated_at"]),
        "synced_at": now,
    }


def upsert_variants(connection: sa.Connection, rows: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """Insert or refresh variants; a row older (by Shopify's `updated_at`) than the stored one is ignored.

    Several versions of one variant in `rows` (appended raw reads) collapse to the newest first: one
    statement may not update a row twice.
    """
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in (_variant_row(raw, now) for raw in rows):
        key = (row["shop"], row["variant_id"])
        if key not in newest or row["updated_at"] >= newest[key]["updated_at"]:
            newest[key] = row
    return upsert_newer(
        connection, catalog_variants, list(newest.values()), ("shop", "variant_id"), "updated_at"
    )


def find_variant(connection: sa.Connection, shop: str, variant_id: str | int) -> dict[str, Any] | None:
    """The stored variant, or None when the shop has no such variant."""
    row = connection.execute(
        _VARIANT, {"shop": shop.strip().lower(), "variant_id": variant_gid(variant_id)}
    ).first()
    return None if row is None else dict(row._mapping)
