"""An analytics failure cannot stop alerts: with a KPI model broken (`kpi_daily` fails in dbt, in a copy of
the project the analytics run builds), the alerts path still detects, enqueues and sends, the dispatcher
still runs, and the failure reaches the operator's webhook (the simulator's `/_sim/alerts`) once."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from backinstock.clock import format_instant
from backinstock.store import tables
from backinstock.store.engine import create_store_engine
from orchestration.alert_sensors import operations_alerts
from orchestration.demo import DemoPlan, DemoWorld
from orchestration.instance import prepare_dagster_home
from orchestration.jobs import run_config, run_tags
from tests.orchestration.launching import (
    definitions_with_a_broken_kpi_model,
    evaluate_run_failure_alert,
    insert_foreign_currency_order,
    open_the_store,
    play_with_dispatch,
)

pytestmark = pytest.mark.e2e

# Long enough for a restock with a confirmed subscriber waiting (the small store, seed 11).
PLAYED = timedelta(hours=44)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    plan = DemoPlan(data_dir=tmp_path_factory.mktemp("isolation") / "data", scenario="small", seed=11, days=2)
    with DemoWorld(plan) as world:
        with world.config_file.open("a") as settings:
            settings.write(f'\n[alerts]\nwebhook_url = "{world.simulator_url}/_sim/alerts"\n')
        open_the_store(world)
        play_with_dispatch(world, plan.start + PLAYED)  # a restock known by then, a subscriber waiting
        yield world


def _run(
    world, instance, job_name: str, as_of, dispatch: dict | None = None, definitions=None
) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    instant = format_instant(as_of)
    return (
        (definitions or defs)
        .resolve_job_def(job_name)
        .execute_in_process(
            run_config=run_config(instant, str(world.config_file), dispatch=dispatch),
            instance=instance,
            tags=run_tags("test", instant),
            raise_on_error=False,
        )
    )


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def test_a_failing_kpi_model_leaves_alerts_and_dispatch_running_and_raises_an_alert(
    world, tmp_path, monkeypatch
):
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(world.config_file))
    start = world.plan.start
    broken = definitions_with_a_broken_kpi_model(tmp_path)
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(tmp_path / "dagster_home"))) as instance:
        analytics = _run(world, instance, "analytics", start + PLAYED, definitions=broken)
        assert not analytics.success
        materialized = _materialized(analytics)
        # The orders and the models before the broken one were built; the KPI mart and what reads it not.
        assert {"raw_shopify/orders", "orders"} <= materialized
        assert "kpi_daily" not in materialized and "published/marts" not in materialized

        alerts = _run(world, instance, "alerts", start + PLAYED)
        assert alerts.success, "the alerts path does not depend on any KPI model"
        assert {"restock_events", "notification_targets", "operational/notification_jobs"} <= _materialized(
            alerts
        )
        (enqueued,) = [
            event.materialization.metadata
            for event in alerts.get_asset_materialization_events()
            if event.asset_key == dg.AssetKey(["operational", "notification_jobs"])
        ]
        # The alerts run sends the jobs it enqueued itself (the dispatcher's code, until nothing is due).
        assert enqueued["jobs_enqueued"].value >= 1
        assert enqueued["sent"].value >= 1, "a restock alert went out with the run that found it"
        assert enqueued["sends_drained"].value is True
        dispatch = _run(world, instance, "dispatch", start + PLAYED, {"until_idle": True})
        assert dispatch.success, "the dispatcher runs while analytics is broken"

        evaluate_run_failure_alert(instance, analytics.run_id)
        context = dg.build_sensor_context(instance=instance)
        operations_alerts(context)
        operations_alerts(dg.build_sensor_context(instance=instance, cursor=context.cursor))

    received = world.http.get(f"{world.simulator_url}/_sim/alerts").json()["alerts"]
    failed_runs = [alert for alert in received if alert["kind"] == "run_failed"]
    assert len(failed_runs) == 1, received
    assert failed_runs[0]["subject"] == "analytics"
    assert analytics.run_id in failed_runs[0]["message"]
    assert "kpi_daily" in failed_runs[0]["message"], "the alert names the model that failed"
    with create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}").connect() as store:
        open_kinds = (
            store.execute(sa.select(tables.alerts.c.kind).where(tables.alerts.c.resolved_at.is_(None)))
            .scalars()
            .all()
        )
    assert "run_failed" in open_kinds


def test_an_orders_batch_that_fails_its_check_blocks_the_kpi_marts(world, tmp_path, monkeypatch):
    """Great Expectations on orders is a blocking check: a batch in a foreign currency (an ingest that read
    presentment money) stops the KPI marts instead of summing it into revenue."""
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(world.config_file))
    start = world.plan.start
    insert_foreign_currency_order(world, start + PLAYED - timedelta(hours=1))
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(tmp_path / "dagster_home"))) as instance:
        analytics = _run(world, instance, "analytics", start + PLAYED)
    assert not analytics.success
    materialized = _materialized(analytics)
    assert "raw_shopify/orders" in materialized
    assert "kpi_daily" not in materialized and "published/marts" not in materialized
