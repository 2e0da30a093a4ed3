"""The Dagster code location loads, and its graph is wired the way the design says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.common import WAREHOUSE_POOL
from orchestration.definitions import defs
from orchestration.defs.shopify.checks import CHECK_NAME as GX_CHECK_NAME

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def test_the_cycle_job_and_schedule_resolve():
    job = defs.resolve_job_def("pipeline_cycle")
    assert job is not None
    assert defs.resolve_schedule_def("pipeline_cycle_schedule").cron_schedule == "*/15 * * * *"


def test_the_cycle_leaves_the_gx_checks_to_the_data_quality_job(graph):
    """Importing Great Expectations costs seconds: its checks run hourly in their own job, off the cycle."""
    gx_checks = {key for key in graph.asset_check_keys if key.name == GX_CHECK_NAME}
    assert {key.asset_key.to_user_string() for key in gx_checks} == {
        "raw_shopify/inventory_levels", "raw_shopify/orders", "raw_shopify/variants",
    }  # fmt: skip
    cycle = defs.resolve_job_def("pipeline_cycle")
    cycle_checks = set(cycle.asset_layer.asset_graph.asset_check_keys)
    assert cycle_checks, "dbt's tests stay in the cycle"
    assert cycle_checks.isdisjoint(gx_checks)
    assert set(cycle.asset_layer.asset_graph.get_all_asset_keys()) == set(graph.get_all_asset_keys())
    assert not any(GX_CHECK_NAME in node.name for node in cycle.graph.node_defs)

    quality = defs.resolve_job_def("data_quality")
    assert set(quality.asset_layer.asset_graph.asset_check_keys) == gx_checks
    assert not quality.asset_layer.executable_asset_keys, "the data_quality job materializes nothing"
    schedule = defs.resolve_schedule_def("data_quality_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 * * * *", "UTC")


def test_loading_the_code_location_does_not_import_great_expectations():
    code = "import sys, orchestration.definitions; print('great_expectations' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "DO_NOT_TRACK": "1"},
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.stdout.strip() == "False", result.stdout + result.stderr


def test_every_dbt_source_is_an_ingest_asset(graph):
    """No dangling external assets: every source dbt reads is written by an asset of this code location."""
    unmaterializable = [
        key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable
    ]
    assert unmaterializable == []
    stg_inventory = graph.get(dg.AssetKey("stg_shopify__inventory_levels"))
    assert dg.AssetKey(["raw_shopify", "inventory_levels"]) in stg_inventory.parent_keys


def test_every_asset_that_opens_the_warehouse_is_in_the_warehouse_pool(graph):
    """DuckDB allows one writing process: all warehouse work is serialised by one pool."""
    dispatch_only = {dg.AssetKey(["operational", "notification_deliveries"])}
    for key in graph.get_all_asset_keys():
        if key in dispatch_only:
            continue
        assets_def = graph.get(key).assets_def
        pools = {op.pool for op in assets_def.node_def.iterate_op_defs()}
        assert pools == {WAREHOUSE_POOL}, f"{key.to_user_string()} runs outside the warehouse pool"


def test_every_check_that_opens_the_warehouse_is_in_the_warehouse_pool(graph):
    """Even a read-only connection fails while another process writes: the GX checks queue in the pool too.
    dbt's tests run inside the dbt asset's step (in the pool already)."""
    for key in graph.asset_check_keys:
        if key.name != GX_CHECK_NAME:
            continue
        checks_def = graph.assets_def_for_key(key)
        pools = {op.pool for op in checks_def.node_def.iterate_op_defs()}
        assert pools == {WAREHOUSE_POOL}, f"{key.to_user_string()} runs outside the warehouse pool"


def test_cycle_order_enqueue_after_targets_dispatch_after_enqueue(graph):
    jobs = graph.get(dg.AssetKey(["operational", "notification_jobs"]))
    assert dg.AssetKey("notification_targets") in jobs.parent_keys
    deliveries = graph.get(dg.AssetKey(["operational", "notification_deliveries"]))
    assert dg.AssetKey(["operational", "notification_jobs"]) in deliveries.parent_keys


def test_dagster_cli_loads_the_code_location(tmp_path):
    """What `dagster dev` does first: load the module in a fresh process, with telemetry off."""
    environment = {**os.environ, "DAGSTER_HOME": str(tmp_path), "DO_NOT_TRACK": "1"}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = str(Path(sys.executable).with_name("dagster"))
    result = subprocess.run(
        [dagster, "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
