"""The Dagster code location loads, and its graph is wired the way the design says."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.asset_metadata import GROUPS
from orchestration.common import WAREHOUSE_POOL
from orchestration.definitions import defs
from orchestration.defs.dbt.assets import dbt_models
from orchestration.defs.shopify.checks import CHECK_NAME as GX_CHECK_NAME

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def a_live_instance():
    """Resolving the definitions reads the current Dagster instance's state storage: these tests give them a
    live one (run after some sensor tests in the same process, the current one was a disposed instance)."""
    with dg.instance_for_test():
        yield


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def _assets_of(job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {key.to_user_string() for key in job.asset_layer.executable_asset_keys}


def test_alerts_path_holds_nothing_of_analytics():
    """A failing KPI model cannot stop alerts: no order, attribution or KPI asset is on the alerts path."""
    alerts = _assets_of("alerts")
    assert {"raw_shopify/inventory_levels", "raw_app/webhook_inbox", "restock_events"} <= alerts
    assert {"notification_targets", "operational/notification_jobs"} <= alerts
    assert not {name for name in alerts if name.startswith(("kpi_", "raw_shopify/order", "published"))}
    assert not {name for name in alerts if "attribution" in name or name == "orders"}
    assert "operational/notification_deliveries" not in alerts


def test_dispatch_is_a_job_of_its_own_outside_the_warehouse_pool(graph):
    assert _assets_of("dispatch") == {"operational/notification_deliveries"}
    deliveries = graph.get(dg.AssetKey(["operational", "notification_deliveries"])).assets_def
    assert {op.pool for op in deliveries.node_def.iterate_op_defs()} == {None}


def test_every_asset_is_on_exactly_one_path_but_the_shared_copies_and_redactions():
    paths = {name: _assets_of(name) for name in ("alerts", "dispatch", "analytics")}
    copies = {name for name in paths["alerts"] if name.startswith("raw_app/")}
    assert copies and copies <= paths["analytics"], "analytics copies the jobs and attempts after sends"
    shared = copies | {"privacy/warehouse_redactions"}
    assert (paths["alerts"] & paths["analytics"]) == shared, "both paths redact before their dbt models"
    everything = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert paths["alerts"] | paths["dispatch"] | paths["analytics"] == everything
    assert {"kpi_daily", "kpi_summary", "notification_attributions", "published/marts"} <= paths["analytics"]


def test_every_job_runs_in_process():
    """A step per process re-imports the code location each time (274 s against 62 s for one cycle)."""
    for job in defs.resolve_all_job_defs():
        assert job.executor_def is dg.in_process_executor, job.name


def test_schedules_and_sensors_are_on_by_default():
    expected = {
        "reconciliation_poll": ("alerts", "*/5 * * * *"),
        "dispatch_every_minute": ("dispatch", "* * * * *"),
        "analytics_refresh": ("analytics", "*/15 * * * *"),
        "data_quality_schedule": ("data_quality", "*/30 * * * *"),
    }
    for name, (job, cron) in expected.items():
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.job_name, schedule.cron_schedule, schedule.execution_timezone) == (job, cron, "UTC")
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensors = (
        "webhook_inbox",
        "dispatch_after_enqueue",
        "analytics_after_sends",
        "run_failure_alerts",
        "run_success_resolves_alerts",
        "operations_alerts",
    )
    for name in sensors:
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING


def test_gx_checks_stay_off_the_alerts_path_and_a_bad_orders_batch_blocks_the_kpis(graph):
    """Importing Great Expectations costs seconds: none of its checks is on the alerts path. The orders
    check runs in analytics, blocking (a failing batch stops the KPI marts); the others in data_quality."""
    gx_checks = {key for key in graph.asset_check_keys if key.name == GX_CHECK_NAME}
    by_table = {key.asset_key.path[-1]: key for key in gx_checks}
    assert set(by_table) == {"inventory_levels", "orders", "variants"}

    def checks_of(name: str) -> set:
        return set(defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys)

    alerts = defs.resolve_job_def("alerts")
    assert not checks_of("alerts"), "no check holds a send back: dbt's tests of detection run in analytics"
    detection_tests = {key for key in checks_of("analytics") if key.asset_key.path[-1] == "restock_events"}
    assert {key.name for key in detection_tests} >= {"restocks_respect_their_cooldown"}
    assert not any(GX_CHECK_NAME in node.name for node in alerts.graph.node_defs)
    assert checks_of("analytics") & gx_checks == {by_table["orders"]}
    assert graph.get_check_spec(by_table["orders"]).blocking
    quality = defs.resolve_job_def("data_quality")
    assert checks_of("data_quality") == {by_table["inventory_levels"], by_table["variants"]}
    assert not quality.asset_layer.executable_asset_keys, "the data_quality job materializes nothing"


def test_the_catalog_reads_like_the_business(graph):
    """Groups in the order the data flows (no asset reads a later group), and every asset says what it is,
    who answers for it and what it is made of. Between dbt models the layers are dbt's folders (a few
    intermediate models read marts: the dbt project's own choice), so only edges with a Python asset on
    one side are held to the order here."""
    position = {group: index for index, group in enumerate(GROUPS)}
    dbt_keys = set(dbt_models.keys)
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.group_name in position, name
        assert node.owners and node.kinds and node.description, name
        for parent in node.parent_keys:
            if parent in dbt_keys and key in dbt_keys:
                continue
            assert position[graph.get(parent).group_name] <= position[node.group_name], (parent, name)
    for table in ("raw_shopify/inventory_levels", "raw_app/notification_jobs", "kpi_daily"):
        assert "dagster/column_schema" in graph.get(dg.AssetKey.from_user_string(table)).metadata, table


def test_the_code_location_is_named_after_the_product():
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["location_name"] == "back_in_stock"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["dagster"]["code_location_name"] == "back_in_stock"


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


def test_the_inputs_and_marts_the_business_watches_have_freshness_policies(graph):
    """The inventory ingest, restocks and targets follow the 5-minute poll; the KPI marts the analytics."""
    policies = {
        key.to_user_string(): graph.get(key).freshness_policy
        for key in graph.get_all_asset_keys()
        if graph.get(key).freshness_policy is not None
    }
    alerts = {"raw_shopify/inventory_levels", "restock_events", "notification_targets"}
    kpis = {name for name in policies if name.startswith("kpi_")}
    assert alerts | kpis == set(policies)
    assert kpis >= {"kpi_daily", "kpi_summary", "kpi_variants_daily"}
    assert {policies[name].fail_window.to_timedelta() for name in alerts} == {timedelta(minutes=30)}
    assert {policies[name].fail_window.to_timedelta() for name in kpis} == {timedelta(hours=1)}


def test_a_waiting_alerts_step_gets_the_warehouse_slot_before_an_analytics_step_waiting_longer():
    """Alerts first: when the slot is freed, the waiting alerts step (its run's priority) takes it, though
    an analytics step asked earlier; the analytics step waits for the next free slot."""
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
    from dagster._core.test_utils import create_run_for_test

    from orchestration.instance import ensure_warehouse_pool
    from orchestration.jobs import DAGSTER_PRIORITY_TAG, alerts_job, analytics_job

    with dg.instance_for_test() as instance:
        ensure_warehouse_pool(instance)
        holding = create_run_for_test(instance, job_name="analytics", tags=analytics_job.tags)
        analytics = create_run_for_test(instance, job_name="analytics", tags=analytics_job.tags)
        alerts = create_run_for_test(instance, job_name="alerts", tags=alerts_job.tags)
        with (
            InstanceConcurrencyContext(instance, holding) as held,
            InstanceConcurrencyContext(instance, analytics) as later_analytics,
            InstanceConcurrencyContext(instance, alerts) as later_alerts,
        ):
            assert held.claim(WAREHOUSE_POOL, "dbt_models")
            assert not later_analytics.claim(WAREHOUSE_POOL, "dbt_models"), "the slot is taken"
            assert not later_alerts.claim(WAREHOUSE_POOL, "inventory_levels")
            instance.event_log_storage.free_concurrency_slot_for_step(holding.run_id, "dbt_models")
            storage = instance.event_log_storage
            claimed_by_alerts = storage.claim_concurrency_slot(
                WAREHOUSE_POOL, alerts.run_id, "inventory_levels", int(alerts.tags[DAGSTER_PRIORITY_TAG])
            )
            claimed_by_analytics = storage.claim_concurrency_slot(
                WAREHOUSE_POOL, analytics.run_id, "dbt_models", 0
            )
            assert claimed_by_alerts.is_claimed and not claimed_by_analytics.is_claimed
