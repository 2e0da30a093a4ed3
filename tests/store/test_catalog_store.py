from datetime import timedelta
from decimal import Decimal

from seed_rows import NOW, SHOP, variant_row

from backinstock.store.catalog import find_variant, numeric_id, upsert_variants, variant_gid


def test_upsert_inserts_and_find_accepts_gid_or_number(store_engine):
    with store_engine.begin() as connection:
        assert upsert_variants(connection, [variant_row(1), variant_row(2)], NOW) == 2
    with store_engine.connect() as connection:
        by_gid = find_variant(connection, SHOP, "gid://shopify/ProductVariant/1")
        by_number = find_variant(connection, SHOP.upper(), 1)
        assert find_variant(connection, SHOP, 3) is None
        assert find_variant(connection, "other.myshopify.com", 1) is None
    assert by_gid == by_number
    assert by_gid["handle"] == "linen-shirt-1"
    assert by_gid["price"] == Decimal("49.90")
    assert by_gid["synced_at"] == NOW


def test_newer_rows_replace_older_ones_never_the_reverse(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1)], NOW)
        newer = variant_row(1, product_title="Linen Shirt (new)", updated_at=NOW)
        upsert_variants(connection, [newer], NOW + timedelta(minutes=1))
        stale = variant_row(1, product_title="stale", updated_at=NOW - timedelta(days=3))
        upsert_variants(connection, [stale], NOW + timedelta(minutes=2))
        stored = find_variant(connection, SHOP, 1)
    assert stored["product_title"] == "Linen Shirt (new)"
    assert stored["updated_at"] == NOW
    assert stored["synced_at"] == NOW + timedelta(minutes=1)


def test_ids():
    assert variant_gid(" 42 ") == "gid://shopify/ProductVariant/42"
    assert variant_gid("gid://shopify/ProductVariant/42") == "gid://shopify/ProductVariant/42"
    assert numeric_id("gid://shopify/ProductVariant/42") == "42"


def test_several_versions_in_one_batch_keep_the_newest(store_engine):
    versions = [
        variant_row(1, product_title="v2", updated_at=NOW),
        variant_row(1, product_title="v1", updated_at=NOW - timedelta(hours=1)),
        variant_row(2),
    ]
    with store_engine.begin() as connection:
        assert upsert_variants(connection, versions, NOW) == 2
        assert find_variant(connection, SHOP, 1)["product_title"] == "v2"
