"""The pipeline cycle as one job, and the schedule that runs it with its tick as `as_of`."""

from __future__ import annotations

import dagster as dg

from backinstock.clock import format_instant

CYCLE_CRON = "*/15 * * * *"

cycle_job = dg.define_asset_job(
    "pipeline_cycle",
    selection=dg.AssetSelection.all(),
    description="Ingest Shopify and the operational store, build dbt, enqueue and dispatch, publish marts.",
)


def cycle_run_config(as_of: str, config_file: str = "") -> dict:
    """Run config for one cycle: the instant it decides as of, and optionally which settings file to read."""
    resources: dict = {"clock": {"config": {"as_of": as_of}}}
    if config_file:
        resources["settings"] = {"config": {"config_file": config_file}}
    return {"resources": resources}


@dg.schedule(
    name="pipeline_cycle_schedule", job=cycle_job, cron_schedule=CYCLE_CRON, execution_timezone="UTC"
)
def cycle_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    tick = context.scheduled_execution_time
    return dg.RunRequest(run_key=tick.isoformat(), run_config=cycle_run_config(format_instant(tick)))
