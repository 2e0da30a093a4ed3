"""The Great Expectations checks of ingested batches: run for real through the `data_quality` job."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from orchestration.defs.shopify.checks import (
    CHECK_NAME,
    SUITES,
    Expect,
    build_suite,
    expectation_label,
    latest_batch,
    summarize,
    validate,
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
    ],
    "orders": [order(1, total_price="-5.00"), order(2, currency_code="EURO")],
    "variants": [variant(1, inventory_policy="SOMETIMES")],
}


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "warehouse.duckdb"
    with connect(path) as warehouse:
        ensure_raw_schema(warehouse)
    return path


@pytest.fixture
def config_file(tmp_path: Path, warehouse_path: Path) -> str:
    path = tmp_path / "backinstock.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nwarehouse_path = "{warehouse_path}"\n')
    return str(path)


@pytest.fixture(scope="module")
def quality_job() -> dg.JobDefinition:
    from orchestration.definitions import defs

    return defs.resolve_job_def("data_quality")


def land(path: Path, batches: dict[str, list[dict[str, Any]]], at: datetime) -> None:
    with connect(path) as warehouse:
        for table, rows in batches.items():
            append_rows(warehouse, table, rows, at)


def run_checks(job: dg.JobDefinition, config_file: str) -> dict[str, dg.AssetCheckEvaluation]:
    """Run the data_quality job on the settings file's warehouse; each table's check evaluation."""
    result = job.execute_in_process(
        run_config={"resources": {"settings": {"config": {"config_file": config_file}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == set(TABLES)
    assert {e.check_name for e in evaluations.values()} == {CHECK_NAME}
    return evaluations


def meta(evaluation: dg.AssetCheckEvaluation, key: str) -> Any:
    return evaluation.metadata[key].value


def failures(evaluation: dg.AssetCheckEvaluation) -> dict[str, dict[str, Any]]:
    return {failure["expectation"]: failure for failure in meta(evaluation, "failures")}


def test_good_latest_batch_passes(quality_job, warehouse_path, config_file):
    land(warehouse_path, GOOD, T0)
    for table, evaluation in run_checks(quality_job, config_file).items():
        assert evaluation.passed, (table, meta(evaluation, "failures"))
        assert meta(evaluation, "expectations_run") == len(SUITES[table])
        assert meta(evaluation, "expectations_failed") == 0
        assert meta(evaluation, "rows") == len(GOOD[table])
        assert meta(evaluation, "identical_copies_collapsed") == 0
        assert meta(evaluation, "batch_ingested_at") == {SHOP: str(T0)}


def test_bad_latest_batch_fails_naming_the_expectations(quality_job, warehouse_path, config_file):
    land(warehouse_path, GOOD, T0)
    land(warehouse_path, BAD, T1)
    evaluations = run_checks(quality_job, config_file)
    assert not any(evaluation.passed for evaluation in evaluations.values())
    assert evaluations["inventory_levels"].severity == dg.AssetCheckSeverity.ERROR

    levels = failures(evaluations["inventory_levels"])
    assert set(levels) == {
        "expect_column_values_to_match_regex(inventory_level_id)",
        "expect_compound_columns_to_be_unique(shop, inventory_level_id, updated_at)",
    }
    assert levels["expect_column_values_to_match_regex(inventory_level_id)"]["unexpected_count"] == 1
    assert levels["expect_column_values_to_match_regex(inventory_level_id)"]["unexpected_sample"] == [
        "InventoryLevel/1"
    ]
    assert (
        levels["expect_compound_columns_to_be_unique(shop, inventory_level_id, updated_at)"][
            "unexpected_count"
        ]
        == 2
    )
    assert meta(evaluations["inventory_levels"], "expectations_failed") == 2
    assert meta(evaluations["inventory_levels"], "rows") == 3  # the older, good batch is not read

    orders = failures(evaluations["orders"])
    assert set(orders) == {
        "expect_column_values_to_be_between(total_price)",
        "expect_column_values_to_match_regex(currency_code)",
    }
    assert all(failure["unexpected_count"] == 1 for failure in orders.values())
    assert set(meta(evaluations["orders"], "failed_expectations")) == set(orders)
    assert set(failures(evaluations["variants"])) == {"expect_column_values_to_be_in_set(inventory_policy)"}


def test_only_the_latest_batch_is_validated(quality_job, warehouse_path, config_file):
    land(warehouse_path, BAD, T0)
    land(warehouse_path, GOOD, T1)
    for table, evaluation in run_checks(quality_job, config_file).items():
        assert evaluation.passed, (table, meta(evaluation, "failures"))
        assert meta(evaluation, "rows") == len(GOOD[table])


def test_identical_copies_from_a_rerun_at_the_same_instant_pass(quality_job, warehouse_path, config_file):
    """Two runs stamped alike (the demo re-runs its last cycle) land the same re-read rows twice."""
    land(warehouse_path, GOOD, T0)
    land(warehouse_path, GOOD, T0)
    for table, evaluation in run_checks(quality_job, config_file).items():
        assert evaluation.passed, (table, meta(evaluation, "failures"))
        assert meta(evaluation, "rows") == len(GOOD[table])
        assert meta(evaluation, "identical_copies_collapsed") == len(GOOD[table])


def test_each_shops_latest_batch_is_validated(quality_job, warehouse_path, config_file):
    """Another shop's newer batch does not hide this shop's bad latest one."""
    land(warehouse_path, {"orders": [order(1, total_price="-1.00")]}, T0)
    land(warehouse_path, {"orders": [order(5, shop=OTHER_SHOP)]}, T1)
    evaluation = run_checks(quality_job, config_file)["orders"]
    assert not evaluation.passed
    assert meta(evaluation, "failed_expectations") == ["expect_column_values_to_be_between(total_price)"]
    assert meta(evaluation, "batch_ingested_at") == {SHOP: str(T0), OTHER_SHOP: str(T1)}


def test_empty_tables_pass_with_a_note(quality_job, warehouse_path, config_file):
    for evaluation in run_checks(quality_job, config_file).values():
        assert evaluation.passed
        assert meta(evaluation, "rows") == 0
        assert meta(evaluation, "note") == "no rows ingested yet"


def test_a_missing_warehouse_passes_with_a_note(quality_job, tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'data_dir = "{tmp_path / "nothing"}"\n')
    for evaluation in run_checks(quality_job, str(config)).values():
        assert evaluation.passed
        assert meta(evaluation, "note") == "table not created yet"
    assert not (tmp_path / "nothing" / "warehouse.duckdb").exists()


def test_null_updated_at_fails(warehouse_path):
    """The raw table's NOT NULL keeps nulls out today; the suite still says so if that ever changes."""
    land(warehouse_path, {"inventory_levels": GOOD["inventory_levels"]}, T0)
    with connect(warehouse_path, read_only=True) as warehouse:
        frame = latest_batch(warehouse, "inventory_levels")
    frame.loc[0, "updated_at"] = pd.NaT
    outcome = summarize(validate(frame, "inventory_levels"))
    assert not outcome.passed
    assert outcome.metadata["failed_expectations"] == ["expect_column_values_to_not_be_null(updated_at)"]
    assert outcome.metadata["failures"][0]["unexpected_count"] == 1


def test_a_drifted_column_type_fails(warehouse_path):
    land(warehouse_path, {"inventory_levels": GOOD["inventory_levels"]}, T0)
    with connect(warehouse_path, read_only=True) as warehouse:
        frame = latest_batch(warehouse, "inventory_levels")
    frame["available"] = frame["available"].astype("float64") + 0.5
    outcome = summarize(validate(frame, "inventory_levels"))
    assert outcome.metadata["failed_expectations"] == ["expect_column_values_to_be_in_type_list(available)"]
    assert outcome.metadata["failures"][0]["observed_value"] == "float64"


@pytest.mark.parametrize("table", TABLES)
def test_every_suite_builds_in_gx(table):
    assert len(build_suite(table).expectations) == len(SUITES[table])


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
