"""The alerts path launched the way production launches it: through a real instance's run launcher, in a
process of its own, not `execute_in_process`; once as an operator would (`dagster job launch`), once from
the reconciliation schedule's own run request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test

from backinstock.clock import format_instant
from backinstock.store import tables
from backinstock.store.engine import create_store_engine
from orchestration.common import WAREHOUSE_POOL
from orchestration.demo import DemoPlan, DemoWorld
from orchestration.jobs import AS_OF_TAG, TRIGGER_TAG, run_config, run_tags
from orchestration.schedules import reconciliation_poll
from tests.orchestration.launching import (
    failure_message,
    launch,
    open_the_store,
    play_with_dispatch,
    prepare_instance_home,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The small simulated store, open for signups and played a day with a dispatcher (confirmations go
    out): shoppers signed up and confirmed, stock moved, a variant people wait for restocked."""
    plan = DemoPlan(data_dir=tmp_path_factory.mktemp("launched") / "data", scenario="small", seed=11, days=2)
    with DemoWorld(plan) as world:
        open_the_store(world)
        play_with_dispatch(world, plan.start + timedelta(hours=24))
        yield world


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return prepare_instance_home(tmp_path_factory.mktemp("dagster_home"))


def _materialized(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    return {record.event_log_entry.asset_materialization.asset_key.to_user_string() for record in records}


def test_the_alerts_job_launched_through_the_run_launcher_succeeds(world, home):
    as_of = format_instant(world.plan.start + timedelta(hours=24))
    run = launch(home, world.config_file, "alerts", run_config(as_of), run_tags("cli", as_of))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert run.status == dg.DagsterRunStatus.SUCCESS, failure_message(instance, run.run_id)
        materialized = _materialized(instance, run.run_id)
        # The project put the warehouse pool's limit on an instance whose configuration says nothing of it.
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
    assert {"raw_shopify/inventory_levels", "restock_events", "operational/notification_jobs"} <= materialized
    assert not {name for name in materialized if name.startswith("kpi_")}
    assert (run.tags[TRIGGER_TAG], run.tags[AS_OF_TAG]) == ("cli", as_of)
    with create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}").connect() as store:
        catalog = store.execute(sa.select(sa.func.count()).select_from(tables.catalog_variants)).scalar_one()
    assert catalog > 0, "the launched run wrote the catalog copy to the operational store"


def test_the_reconciliation_schedule_run_request_launches_and_succeeds(world, home, monkeypatch):
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(world.config_file))
    tick = world.plan.start + timedelta(hours=24, minutes=5)
    world.advance(tick)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        request = reconciliation_poll.evaluate_tick(context).run_requests[0]
    run = launch(home, world.config_file, "alerts", request.run_config, request.tags)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert run.status == dg.DagsterRunStatus.SUCCESS, failure_message(instance, run.run_id)
    # Simulated time: the schedule decides as of the product's clock, which the world moved to the tick.
    assert (run.tags[TRIGGER_TAG], run.tags[AS_OF_TAG]) == ("schedule", format_instant(tick))


def test_a_tick_that_overlaps_a_running_alerts_run_is_skipped(tmp_path, monkeypatch):
    (tmp_path / "backinstock.toml").write_text(f'data_dir = "{tmp_path}"\n')
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(tmp_path / "backinstock.toml"))
    with dg.instance_for_test() as instance:
        tick = datetime(2026, 11, 2, 12, 5, tzinfo=UTC)
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        assert reconciliation_poll.evaluate_tick(context).run_requests
        create_run_for_test(instance, job_name="alerts", status=dg.DagsterRunStatus.STARTED)
        result = reconciliation_poll.evaluate_tick(context)
    assert not result.run_requests
    assert "still in progress" in result.skip_message
