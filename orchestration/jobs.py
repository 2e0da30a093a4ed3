"""The pipeline cycle as one job, and the schedule that runs it with its tick as `as_of`; and the data
quality job, which runs the Great Expectations checks of ingested batches on their own, hourly schedule."""

from __future__ import annotations

import dagster as dg

from backinstock.clock import format_instant
from orchestration.defs.shopify.checks import checks as quality_checks

CYCLE_CRON = "*/15 * * * *"
QUALITY_CRON = "0 * * * *"

# The GX checks: importing Great Expectations alone costs seconds, too slow for the cycle's hot path.
QUALITY_CHECKS = dg.AssetSelection.checks(*quality_checks)

# Every asset with its checks (dbt's tests run inside `dbt build`), except the GX checks.
cycle_job = dg.define_asset_job(
    "pipeline_cycle",
    selection=dg.AssetSelection.all() - QUALITY_CHECKS,
    description="Ingest Shopify and the operational store, build dbt, enqueue and dispatch, publish marts.",
)

# Only the checks, no materialization. In one process: GX is imported once for all of them, and they run
# one at a time anyway (the warehouse pool).
quality_job = dg.define_asset_job(
    "data_quality",
    selection=QUALITY_CHECKS,
    executor_def=dg.in_process_executor,
    description="Validate the latest ingested Shopify batches with Great Expectations.",
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


quality_schedule = dg.ScheduleDefinition(
    name="data_quality_schedule", job=quality_job, cron_schedule=QUALITY_CRON, execution_timezone="UTC"
)
