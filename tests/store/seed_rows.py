"""Rows the store, dispatch and storefront tests seed with, built through the product's own functions.

tests/dispatch and tests/storefront put this folder on sys.path in their conftest to share it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from backinstock.store import catalog, subscriptions
from backinstock.store.tables import catalog_variants

SHOP = "test-shop.myshopify.com"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
CONSENT = subscriptions.Consent(text="Tell me when it is back.", method="storefront_form")


def variant_row(number: int = 1, **overrides: Any) -> dict[str, Any]:
    return {
        "shop": SHOP,
        "variant_id": f"gid://shopify/ProductVariant/{number}",
        "product_id": f"gid://shopify/Product/{1000 + number}",
        "product_title": f"Linen Shirt {number}",
        "variant_title": "M / Blue",
        "handle": f"linen-shirt-{number}",
        "sku": f"LS-{number}",
        "price": Decimal("49.90"),
        "inventory_policy": "DENY",
        "tracked": True,
        "updated_at": NOW - timedelta(days=1),
    } | overrides


def signup(
    connection: sa.Connection, email: str, *, variant: int = 1, locale: str = "en", now: datetime = NOW
) -> int:
    """A subscription for `email` to variant `number` (the variant is put in the catalog if missing)."""
    variant_id = f"gid://shopify/ProductVariant/{variant}"
    if catalog.find_variant(connection, SHOP, variant_id) is None:
        catalog.upsert_variants(connection, [variant_row(variant)], now)
    return subscriptions.subscribe(
        connection,
        shop=SHOP,
        variant_id=variant_id,
        product_id=f"gid://shopify/Product/{1000 + variant}",
        channel="email",
        contact=email,
        locale=locale,
        client_id=None,
        consent=CONSENT,
        confirm_by=None,
        now=now,
    ).subscription_id


def target_for(
    connection: sa.Connection,
    subscription_id: int,
    *,
    rank: int = 1,
    restock_event_id: str = "restock-1",
    **overrides: Any,
) -> dict[str, Any]:
    """A `notification_targets` mart row for the subscription, as the dbt mart would give it."""
    subscription = subscriptions.get_subscription(connection, subscription_id)
    variant = connection.execute(
        sa.select(catalog_variants).where(catalog_variants.c.variant_id == subscription["variant_id"])
    ).one()
    return {
        "target_id": f"{restock_event_id}:{subscription_id}",
        "restock_event_id": restock_event_id,
        "shop": subscription["shop"],
        "variant_id": subscription["variant_id"],
        "product_id": subscription["product_id"],
        "subscription_id": subscription_id,
        "channel": subscription["channel"],
        "contact": subscription["contact"],
        "locale": subscription["locale"],
        "signed_up_at": subscription["created_at"].replace(tzinfo=None),  # DuckDB: naive UTC
        "restocked_at": (NOW - timedelta(minutes=10)).replace(tzinfo=None),
        "target_rank": rank,
        "product_title": variant.product_title,
        "variant_title": variant.variant_title,
        "product_handle": variant.handle,
        "price": variant.price,
        "currency_code": "EUR",
        "shop_name": "Test Shop",
    } | overrides
