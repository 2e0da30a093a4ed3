"""Sensors that keep failures in sight: a failed run raises an alert (resolved by the job's next success),
and every 30 s the operations sensor decides the standing conditions (lanes, dead letters, stale inputs)
and sends every open alert not sent yet to the configured webhook (`[alerts] webhook_url`).

The operations sensor's cursor holds the ids of the open alerts already sent, so each goes out once; an
alert whose webhook call failed goes out on a later tick.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx

from backinstock.settings import load_settings
from backinstock.store.alerts import open_alerts
from orchestration import alerting
from orchestration.common import store_engine

# Inputs whose ingest the alerts path depends on: stale when not materialized for `stale_inventory_minutes`.
WATCHED_INPUTS = (dg.AssetKey(["raw_shopify", "inventory_levels"]),)


# dagster-dbt lists the errors dbt logged after this line (the failing model, then dbt's reason).
DBT_ERRORS = "Errors parsed from dbt logs:"


def error_summary(message: str) -> str:
    """An error's first line, and for a dbt failure the first error dbt logged: which model, and why (the
    first line alone only says that the dbt process failed)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if DBT_ERRORS not in lines:
        return lines[0]
    after = lines.index(DBT_ERRORS) + 1
    return " ".join([lines[0].removesuffix(" with command"), "failed:", *lines[after : after + 2]])


def _error_of(context: dg.RunFailureSensorContext) -> str:
    failure = context.failure_event.event_specific_data
    error = getattr(failure, "error", None)
    if error is not None:
        return error_summary(error.message) or error.cls_name or "error"
    for step_failure in context.get_step_failure_events():
        step_error = step_failure.event_specific_data.error
        if step_error is not None:
            return f"step {step_failure.step_key}: {error_summary(step_error.message)}"
    return context.failure_event.message or "failed"


@dg.run_failure_sensor(
    name="run_failure_alerts",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Raises an alert for every failed run (one open alert per job until it succeeds again).",
)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    settings = load_settings()
    run = context.dagster_run
    with store_engine(settings.operational_store_url).begin() as store:
        alerting.raise_run_failure(
            store,
            job_name=run.job_name,
            run_id=run.run_id,
            error=_error_of(context),
            now=settings.clock().now(),
        )


@dg.run_status_sensor(
    name="run_success_resolves_alerts",
    run_status=dg.DagsterRunStatus.SUCCESS,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A job's success resolves its run-failure alert.",
)
def run_success_resolves_alerts(context: dg.RunStatusSensorContext) -> None:
    settings = load_settings()
    run = context.dagster_run
    with store_engine(settings.operational_store_url).begin() as store:
        alerting.resolve_run_failure(
            store, job_name=run.job_name, run_id=run.run_id, now=settings.clock().now()
        )


def _last_ingests(instance: dg.DagsterInstance) -> dict[str, datetime | None]:
    found: dict[str, datetime | None] = {}
    for key in WATCHED_INPUTS:
        event = instance.get_latest_materialization_event(key)
        found[key.to_user_string()] = datetime.fromtimestamp(event.timestamp, UTC) if event else None
    return found


@dg.sensor(
    name="operations_alerts",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lanes stopped or paused long, dead letters over the threshold, stale inventory: opened, "
    "resolved, and sent once to the alert webhook.",
)
def operations_alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    settings = load_settings()
    now = settings.clock().now()
    stale = alerting.stale_conditions(
        _last_ingests(context.instance),
        datetime.now(UTC),
        timedelta(minutes=settings.alerts.stale_inventory_minutes),
    )
    with store_engine(settings.operational_store_url).begin() as store:
        conditions = [*alerting.store_conditions(store, settings.alerts, now), *stale]
        alerting.reconcile(store, conditions, now)
        current = open_alerts(store)
    already = set(json.loads(context.cursor)) if context.cursor else set()
    with httpx.Client() as http:
        sent, errors = alerting.send_new(current, already, settings.alerts.webhook_url, http)
    context.update_cursor(json.dumps(sorted(sent)))
    for error in errors:
        context.log.warning(f"alert webhook: {error}")
    return dg.SkipReason(f"{len(current)} open alerts, {len(sent - already)} sent now, {len(errors)} failed")


SENSORS = [run_failure_alerts, run_success_resolves_alerts, operations_alerts]
