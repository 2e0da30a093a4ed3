"""The Great Expectations checks: every ingested batch validated once (a watermark), with expectations the
tables cannot express; run for real (GX, DuckDB, and the `data_quality` job)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from backinstock.settings import load_settings
from orchestration.defs.shopify.checks import (
    CHECK_NAME,
    SUITES,
    Expect,
    build_suite,
    check_new_batches,
    expectation_label,
    summarize,
)
from orchestration.warehouse import append_rows, connect, ensure_raw_schema

SHOP = "a-shop.myshopify.com"
OTHER_SHOP = "b-shop.myshopify.com"
T0 = datetime(2026, 11, 2, 12, 0)
T1 = T0 + timedelta(minutes=15)
TABLES = ("inventory_levels", "orders", "variants")


def level(number: int, available: int | None = 3, shop: str = SHOP, **changes: Any) -> dict[str, Any]:
    return {
        "shop": shop,
        "inventory_level_id": f"gid://shopify/InventoryLevel/7?inventory_item_id={number}",
        "inventory_item_id": f"gid://shopify/InventoryItem/{number}",
        "location_id": "gid://shopify/Location/7",
        "available": available,
        "updated_at": T0 - timedelta(minutes=number),
        **changes,
    }


def order(number: int, shop: str = SHOP, **changes: Any) -> dict[str, Any]:
    return {
        "shop": shop,
        "order_id": f"gid://shopify/Order/{number}",
        "name": f"#{1000 + number}",
        "email": f"shopper{number}@example.com",
        "created_at": T0 - timedelta(hours=1),
        "updated_at": T0 - timedelta(minutes=number),
        "cancelled_at": None,
        "currency_code": "EUR",
        "total_price": "19.90",
        "custom_attributes": "{}",
        **changes,
    }


def variant(number: int, shop: str = SHOP, **changes: Any) -> dict[str, Any]:
    return {
        "shop": shop,
        "variant_id": f"gid://shopify/ProductVariant/{number}",
        "product_id": "gid://shopify/Product/1",
        "inventory_item_id": f"gid://shopify/InventoryItem/{number}",
        "title": "M",
        "sku": f"SKU-{number}",
        "price": "25.00",
        "inventory_policy": "DENY",
        "tracked": True,
        "updated_at": T0 - timedelta(minutes=number),
        **changes,
    }


GOOD = {
    # null (Shopify may omit it) and negative (oversold) quantities are fine
    "inventory_levels": [level(1), level(2, available=None), level(3, available=-2)],
    "orders": [order(1), order(2, email=None, total_price="0.00")],
    "variants": [variant(1), variant(2, inventory_policy="CONTINUE", inventory_item_id=None)],
}
BAD = {
    "inventory_levels": [
        level(1, inventory_level_id="InventoryLevel/1"),  # not a gid
        level(2),
        level(2, available=5),  # two quantities at the same instant: which one is true?
        level(4, available=50_000_000),  # a unit or parsing error, not stock
    ],
    "orders": [order(1, total_price="-5.00"), order(2, currency_code="USD")],
    "variants": [variant(1, inventory_policy="SOMETIMES")],
}
SHOP_ROW = {"shop": SHOP, "shop_id": "gid://shopify/Shop/1", "name": "A", "currency_code": "EUR",
            "iana_timezone": "Europe/Berlin"}  # fmt: skip


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "warehouse.duckdb"
    with connect(path) as warehouse:
        ensure_raw_schema(warehouse)
        append_rows(warehouse, "shops", [SHOP_ROW], T0 - timedelta(days=1))
    return path


@pytest.fixture
def config_file(tmp_path: Path, warehouse_path: Path) -> str:
    path = tmp_path / "backinstock.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nwarehouse_path = "{warehouse_path}"\n')
    return str(path)


def land(path: Path, batches: dict[str, list[dict[str, Any]]], at: datetime) -> None:
    with connect(path) as warehouse:
        for table, rows in batches.items():
            append_rows(warehouse, table, rows, at)


def check_all(config_file: str) -> dict[str, dg.AssetCheckResult]:
    settings = load_settings(config_file)
    return {table: check_new_batches(settings, table) for table in TABLES}


def meta(result: dg.AssetCheckResult, key: str) -> Any:
    value = result.metadata[key]
    return value.value if isinstance(value, dg.MetadataValue) else value


def failed_names(result: dg.AssetCheckResult) -> set[str]:
    return set(meta(result, "failed_expectations"))


def test_good_batches_pass_and_each_is_validated_once(warehouse_path, config_file):
    land(warehouse_path, GOOD, T0)
    for table, result in check_all(config_file).items():
        assert result.passed, (table, meta(result, "failures"))
        assert meta(result, "batches_validated") == 1
        assert meta(result, "rows") == len(GOOD[table])
        assert "| a-shop.myshopify.com |" in meta(result, "batches"), "readable in the UI"
    for result in check_all(config_file).values():
        assert (meta(result, "batches_validated"), meta(result, "note")) == (
            0,
            "every ingested batch is validated",
        )
    land(warehouse_path, GOOD, T1)
    assert all(meta(result, "batches_validated") == 1 for result in check_all(config_file).values())
    with connect(warehouse_path, read_only=True) as warehouse:
        recorded = warehouse.execute(
            "SELECT table_name, count(*), bool_and(passed) FROM raw_shopify.validated_batches"
            " GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert recorded == [(table, 2, True) for table in sorted(TABLES)]


def test_a_bad_batch_fails_naming_the_expectations(warehouse_path, config_file):
    land(warehouse_path, BAD, T0)
    results = check_all(config_file)
    assert not any(result.passed for result in results.values())
    assert results["inventory_levels"].severity == dg.AssetCheckSeverity.ERROR
    assert failed_names(results["inventory_levels"]) == {
        "expect_column_values_to_match_regex(inventory_level_id)",
        "expect_compound_columns_to_be_unique(shop, inventory_level_id, updated_at)",
        "expect_column_values_to_be_between(available)",
    }
    sample = {f["expectation"]: f for f in meta(results["inventory_levels"], "failures")}
    assert sample["expect_column_values_to_match_regex(inventory_level_id)"]["unexpected_sample"] == [
        "InventoryLevel/1"
    ]
    assert failed_names(results["orders"]) == {
        "expect_column_values_to_be_between(total_price)",
        "expect_column_values_to_be_in_set(currency_code)",  # USD in a EUR shop
    }
    assert failed_names(results["variants"]) == {"expect_column_values_to_be_in_set(inventory_policy)"}


def test_no_batch_is_skipped_a_newer_good_batch_does_not_hide_a_bad_one(warehouse_path, config_file):
    land(warehouse_path, BAD, T0)
    land(warehouse_path, GOOD, T1)
    for table, result in check_all(config_file).items():
        assert not result.passed, table
        assert (meta(result, "batches_validated"), meta(result, "batches_failed")) == (2, 1)
        assert {f["ingested_at"] for f in meta(result, "failures")} == {str(T0)}


def test_timestamps_later_than_the_poll_that_read_them_fail(warehouse_path, config_file):
    land(warehouse_path, {"orders": [order(1, updated_at=T0 + timedelta(hours=2))]}, T0)
    result = check_new_batches(load_settings(config_file), "orders")
    assert failed_names(result) == {"expect_column_max_to_be_between(updated_at)"}


def test_a_batch_far_larger_than_the_recent_ones_fails(warehouse_path, config_file):
    for minute in range(3):
        land(warehouse_path, {"variants": [variant(1)]}, T0 + timedelta(minutes=minute))
    runaway = [variant(number) for number in range(1, 1202)]
    land(warehouse_path, {"variants": runaway}, T1)
    result = check_new_batches(load_settings(config_file), "variants")
    assert (meta(result, "batches_validated"), meta(result, "batches_failed")) == (4, 1)
    assert failed_names(result) == {"expect_table_row_count_to_be_between()"}


def test_identical_copies_from_a_rerun_at_the_same_instant_pass(warehouse_path, config_file):
    """Two runs stamped alike (the demo re-runs its last cycle) land the same re-read rows twice."""
    land(warehouse_path, GOOD, T0)
    land(warehouse_path, GOOD, T0)
    for table, result in check_all(config_file).items():
        assert result.passed, (table, meta(result, "failures"))
        assert meta(result, "rows") == len(GOOD[table])
        assert meta(result, "identical_copies_collapsed") == len(GOOD[table])


def test_each_shops_batches_are_validated(warehouse_path, config_file):
    """Another shop's newer batch does not hide this shop's bad one."""
    land(warehouse_path, {"orders": [order(1, total_price="-1.00")]}, T0)
    land(warehouse_path, {"orders": [order(5, shop=OTHER_SHOP)]}, T1)
    result = check_new_batches(load_settings(config_file), "orders")
    assert not result.passed
    assert meta(result, "failed_expectations") == ["expect_column_values_to_be_between(total_price)"]
    assert meta(result, "batches_validated") == 2


def test_a_missing_warehouse_passes_with_a_note(tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'data_dir = "{tmp_path / "nothing"}"\n')
    result = check_new_batches(load_settings(str(config)), "orders")
    assert result.passed and meta(result, "note") == "no warehouse yet"
    assert not (tmp_path / "nothing" / "warehouse.duckdb").exists()


def test_the_data_quality_job_runs_the_inventory_and_variant_checks(warehouse_path, config_file):
    from orchestration.definitions import defs

    land(warehouse_path, {"inventory_levels": BAD["inventory_levels"], "variants": GOOD["variants"]}, T0)
    result = defs.resolve_job_def("data_quality").execute_in_process(
        run_config={"resources": {"settings": {"config": {"config_file": config_file}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success, "a failed check is a result, not a failed run (these checks do not block)"
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert {e.check_name for e in evaluations.values()} == {CHECK_NAME}
    assert (evaluations["inventory_levels"].passed, evaluations["variants"].passed) == (False, True)


@pytest.mark.parametrize("table", TABLES)
def test_every_suite_builds_in_gx(table):
    assert len(build_suite(table, SUITES[table]).expectations) == len(SUITES[table])


def test_summarize_counts_failures_and_errors():
    result = {
        "success": False,
        "results": [
            {"success": True, "expectation_config": {"type": "expect_x", "kwargs": {"column": "a"}}},
            {
                "success": False,
                "expectation_config": {"type": "expect_y", "kwargs": {"column": "b"}},
                "result": {"unexpected_count": 7, "partial_unexpected_list": list(range(9))},
                "exception_info": {"raised_exception": False},
            },
            {
                "success": False,
                "expectation_config": {"type": "expect_z", "kwargs": {"column": "gone"}},
                "result": {},
                "exception_info": {"metric": {"raised_exception": True, "exception_message": "no column"}},
            },
        ],
    }
    outcome = summarize(result)
    assert not outcome.passed
    assert outcome.metadata["expectations_run"] == 3
    assert outcome.metadata["expectations_failed"] == 2
    assert outcome.metadata["failures"] == [
        {"expectation": "expect_y(b)", "unexpected_count": 7, "unexpected_sample": ["0", "1", "2", "3", "4"]},
        {"expectation": "expect_z(gone)", "error": "no column"},
    ]
    assert summarize({"success": True, "results": []}).passed


def test_expectation_labels_name_their_columns():
    label = expectation_label(
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "u", "column_B": "c"},
        }
    )
    assert label == "expect_column_pair_values_a_to_be_greater_than_b(u, c)"
    assert Expect("ExpectColumnValuesToNotBeNull", {"column": "x"}).kwargs == {"column": "x"}
