"""Helpers for tests that run the paths the way production does: a simulated store on loopback, and runs
launched through a real Dagster instance's run launcher in their own processes (`dagster job launch`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg

from backinstock.clock import format_instant
from backinstock.settings import load_settings
from dispatch.worker import run as run_dispatcher
from orchestration.common import store_engine
from orchestration.defs.dbt.assets import dbt_models, dbt_models_of
from orchestration.defs.dbt.project import DBT_PROJECT_DIR, dbt_cli, dbt_project
from orchestration.demo import DemoWorld
from orchestration.warehouse import connect, naive_utc

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))
# What an operator's instance may well look like: telemetry off, runs launched at once (no daemon queue),
# and nothing about pools: the project sets the warehouse pool's limit itself.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""


def prepare_instance_home(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(INSTANCE_YAML)
    return folder


def advance_to(world: DemoWorld, moment: datetime) -> None:
    """Play the simulated world up to `moment`, stepping onto every event instant on the way (the first
    step, onto the current instant, plays nothing new and learns the next event)."""
    world.advance(world.clock.now())
    while world.next_event_at is not None and world.next_event_at < moment:
        world.advance(world.next_event_at)
    world.advance(moment)


def play_with_dispatch(world: DemoWorld, until: datetime, step: timedelta = timedelta(hours=1)) -> None:
    """Play the world up to `until`, running the dispatcher (`dispatch.worker.run`, what the dispatch job
    runs) at every step: confirmation emails go out, so shoppers confirm their signups as they would."""
    settings = load_settings(world.config_file)
    engine = store_engine(settings.operational_store_url)
    moment = world.clock.now()
    while moment < until:
        moment = min(moment + step, until)
        advance_to(world, moment)
        run_dispatcher(engine, settings, until_idle=True)


def open_the_store(world: DemoWorld) -> None:
    """The first alerts run, in process: the catalog reaches the operational store, so the storefront takes
    signups for its variants."""
    from orchestration.definitions import defs
    from orchestration.jobs import run_config

    world.advance(world.plan.start)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("alerts").execute_in_process(
            run_config=run_config(format_instant(world.plan.start), str(world.config_file)), instance=instance
        )
    assert result.success


def launch(
    home: Path, config_file: Path, job: str, run_config: dict, tags: dict[str, str], env: dict | None = None
) -> dg.DagsterRun:
    """`dagster job launch` against the instance in `home`: the run launcher starts the run in a process of
    its own (from the code server), as the daemon does; returns the finished run's record."""
    run_id = str(uuid.uuid4())
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "BACKINSTOCK_CONFIG": str(config_file),
        **(env or {}),
    }
    command = [
        DAGSTER, "job", "launch", "-m", "orchestration.definitions", "-j", job, "--run-id", run_id,
        "--config-json", json.dumps(run_config), "--tags", json.dumps(tags),
    ]  # fmt: skip
    launched = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        wait_for_run(instance, run_id)
        return instance.get_run_by_id(run_id)


def wait_for_run(instance: dg.DagsterInstance, run_id: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish in {timeout:.0f} s")


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """The errors a run logged, to show when it was expected to succeed."""
    errors = [
        record.event_log_entry.dagster_event.event_specific_data
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    ]
    return "\n".join(str(error) for error in errors)


def insert_foreign_currency_order(world, at) -> None:
    """An orders batch whose shop money is not the shop's currency (an ingest that read presentment
    money): summing it into revenue would be wrong, so the KPI path must stop on it."""
    with connect(world.data_dir / "warehouse.duckdb") as warehouse:
        warehouse.execute(
            """
            INSERT INTO raw_shopify.orders (shop, order_id, name, created_at, updated_at, currency_code,
                total_price, _ingested_at)
            SELECT shop, 'gid://shopify/Order/999999001', '#FX1', ?, ?, 'JPY', 1000, ?
            FROM raw_shopify.shops LIMIT 1
            """,
            [naive_utc(at)] * 3,
        )


def definitions_with_a_broken_kpi_model(folder: Path) -> dg.Definitions:
    """The code location with `kpi_daily` failing when built: its dbt models run over a copy of the project
    (in `folder`) whose `kpi_daily` reads a column nobody has."""
    from orchestration.definitions import defs

    copy = folder / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    model = copy / "models" / "marts" / "kpi_daily.sql"
    model.write_text("select no_such_column from {{ ref('int_kpi_activities_unioned') }}\n")
    project = dbt_project(copy)
    return dg.Definitions(
        assets=[asset for asset in defs.assets if asset is not dbt_models] + [dbt_models_of(project)],
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        executor=defs.executor,
        resources={**defs.resources, "dbt": dbt_cli(project)},
    )


def evaluate_run_failure_alert(instance: dg.DagsterInstance, run_id: str) -> None:
    """Evaluate the `run_failure_alerts` sensor on a failed run, as the daemon does when the run fails."""
    from orchestration.alert_sensors import run_failure_alerts

    failure_event = next(
        record.event_log_entry.dagster_event
        for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    )
    run_failure_alerts(
        dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_event=failure_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run_id),
        ).for_run_failure()
    )
