"""When each path runs on its own: the reconciliation poll, the dispatcher every minute, analytics and data
quality on their own cadence. Every schedule is on by default and skips a tick while a run of its job is
still going (overlapping ticks would only queue behind the warehouse pool)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from backinstock.clock import format_instant
from backinstock.settings import load_settings
from orchestration.jobs import (
    alerts_job,
    analytics_job,
    dispatch_job,
    quality_job,
    run_config,
    run_tags,
)
from orchestration.runs import latest_as_of, run_in_progress

# Webhooks can be lost or late: the reconciliation check (orchestration/inventory_changes.py) finds their
# restocks within seconds; this poll is its safety net (and reads every level now and then).
RECONCILIATION_CRON = "*/5 * * * *"
RECONCILIATION_INTERVAL = timedelta(minutes=5)
DISPATCH_CRON = "* * * * *"
ANALYTICS_CRON = "*/15 * * * *"
QUALITY_CRON = "*/30 * * * *"
# A dispatch run sends until this long before the next minute's tick: the tick finds it over and starts
# the next one (an overlapping tick is skipped), so a dispatcher is up for most of every minute and a job
# enqueued meanwhile is claimed within a second, without waiting for a run to start.
DISPATCH_STOP_BEFORE_TICK = timedelta(seconds=3)


def dispatch_until(moment: datetime) -> dict[str, str]:
    """The dispatch config of a run started for the minute of `moment`: send until just before the next
    minute's tick (real time, like the dispatcher's own bound)."""
    next_tick = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return {"until": format_instant(next_tick - DISPATCH_STOP_BEFORE_TICK)}


def tick_as_of(context: dg.ScheduleEvaluationContext) -> datetime:
    """The instant a tick's run decides as of: the tick, or the settings' clock when time is simulated."""
    settings = load_settings()
    return settings.clock().now() if settings.clock_file else context.scheduled_execution_time


def tick_request(
    context: dg.ScheduleEvaluationContext, job: dg.UnresolvedAssetJobDefinition, dispatch: dict | None = None
) -> dg.RunRequest | dg.SkipReason:
    """One run as of the tick (or of the settings' clock when time is simulated), unless one is going."""
    if run_in_progress(context.instance, job.name):
        return dg.SkipReason(f"a {job.name} run is still in progress: this tick is skipped")
    as_of = format_instant(tick_as_of(context))
    return dg.RunRequest(
        run_key=f"{job.name}-{context.scheduled_execution_time.isoformat()}",
        run_config=run_config(as_of, dispatch=dispatch),
        tags=run_tags("schedule", as_of),
    )


@dg.schedule(
    name="reconciliation_poll",
    job=alerts_job,
    cron_schedule=RECONCILIATION_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The alerts path on a poll of Shopify's inventory, for the changes no webhook reported.",
)
def reconciliation_poll(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """Every alerts run polls Shopify's levels: when one decided less than an interval before this tick (a
    sensor asked for it), the poll is done and the warehouse is left to the next restock."""
    latest = latest_as_of(context.instance, alerts_job.name)
    if latest is not None and latest > tick_as_of(context) - RECONCILIATION_INTERVAL:
        return dg.SkipReason(
            f"an alerts run as of {format_instant(latest)} polled Shopify since the last tick"
        )
    return tick_request(context, alerts_job)


@dg.schedule(
    name="dispatch_every_minute",
    job=dispatch_job,
    cron_schedule=DISPATCH_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The dispatcher every minute, sending until just before the next tick.",
)
def dispatch_every_minute(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return tick_request(context, dispatch_job, dispatch=dispatch_until(context.scheduled_execution_time))


@dg.schedule(
    name="analytics_refresh",
    job=analytics_job,
    cron_schedule=ANALYTICS_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Orders, attribution and KPI marts, published (also refreshed after sends by a sensor).",
)
def analytics_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return tick_request(context, analytics_job)


@dg.schedule(
    name="data_quality_schedule",
    job=quality_job,
    cron_schedule=QUALITY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Great Expectations over every inventory and variant batch not validated yet.",
)
def quality_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return tick_request(context, quality_job)


SCHEDULES = [reconciliation_poll, dispatch_every_minute, analytics_refresh, quality_schedule]
