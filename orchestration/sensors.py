"""Sensors that start paths when something happened: a webhook whose restock can now be confirmed, sends
that the KPI marts have not seen yet.

The webhook inbox sensor keeps its cursor on the inbox id. An inventory webhook says a level changed at
Shopify's `updated_at` (never later than when it reached us); a restock it may start holds only once the
debounce window has passed, so the alerts path is asked for as soon as `observed + debounce` (and the
webhook's arrival) has passed for the next inbox rows, and the cursor moves past exactly those rows.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from backinstock.clock import format_instant, parse_instant, utc
from backinstock.settings import Settings, load_settings
from backinstock.store.tables import webhook_inbox
from orchestration.common import store_engine
from orchestration.jobs import alerts_job, analytics_job, dispatch_job, run_config, run_tags
from orchestration.resources import run_instant
from orchestration.runs import latest_as_of, run_in_progress
from orchestration.schedules import dispatch_until

INVENTORY_TOPICS = ("inventory_levels/update", "inventory_levels/connect", "inventory_levels/disconnect")
INBOX_BATCH = 5000
# After sends, analytics runs at most this often (its schedule covers the rest).
ANALYTICS_AFTER_SENDS_SPACING = timedelta(minutes=5)
# An alerts run is launched this long before its restocks can be confirmed, at most (`launch_ahead`).
LAUNCH_AHEAD = timedelta(seconds=30)
# How long a sensor's request for an alerts run keeps the other sensor from asking for one too (`AskedFor`).
ASKED_FOR_KEPT = timedelta(seconds=30)
# A dispatcher started after an enqueue sends at least this long.
AFTER_ENQUEUE_AT_LEAST = timedelta(seconds=20)


def launch_ahead(settings: Settings) -> timedelta:
    """How long before a restock can be confirmed its alerts run is launched (it waits for that instant,
    `CycleClock`): the run worker's process start and import of the code location, seconds of CPU, happen
    during the debounce instead of after it. Only on real time (a simulated clock moves when its driver
    says), and never past the debounce (a run is never asked for a change not yet seen)."""
    if settings.clock_file:
        return timedelta(0)
    return min(LAUNCH_AHEAD, timedelta(minutes=settings.detection.debounce_minutes))


def whole_second_after(instant: datetime) -> datetime:
    """The first whole second at or after `instant` (runs decide as of whole seconds)."""
    floored = run_instant(instant)
    return floored if floored == instant else floored + timedelta(seconds=1)


@dataclass(frozen=True)
class InboxRow:
    id: int
    received_at: datetime
    payload: str


def observed_at(row: InboxRow) -> datetime:
    """When Shopify says the level changed, never later than our receipt (as staging reads it)."""
    try:
        updated = json.loads(row.payload).get("updated_at")
        return min(parse_instant(updated), row.received_at) if updated else row.received_at
    except (ValueError, TypeError, AttributeError):
        return row.received_at


def confirmable_at(row: InboxRow, debounce: timedelta) -> datetime:
    """When the restock a row may start can be confirmed: `debounce` after it was observed, and arrived."""
    return max(observed_at(row) + debounce, row.received_at)


def confirmable_prefix(rows: Iterable[InboxRow], debounce: timedelta, now: datetime) -> int | None:
    """The last id of the leading rows (in id order) whose restock could be confirmed by `now`: observed
    at least `debounce` ago. None when the first row still waits."""
    last = None
    for row in rows:
        if confirmable_at(row, debounce) > now:
            break
        last = row.id
    return last


def _inbox_after(cursor: int) -> list[InboxRow]:
    settings = load_settings()
    table = webhook_inbox.c
    query = (
        sa.select(table.id, table.received_at, table.payload)
        .where(table.id > cursor, table.topic.in_(INVENTORY_TOPICS))
        .order_by(table.id)
        .limit(INBOX_BATCH)
    )
    with store_engine(settings.operational_store_url).connect() as store:
        return [InboxRow(row.id, utc(row.received_at), row.payload) for row in store.execute(query)]


@dg.sensor(
    name="webhook_inbox",
    job=alerts_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the alerts path once an inventory webhook's restock can be confirmed (after the "
    "debounce window).",
)
def webhook_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    settings = load_settings()
    cursor = int(context.cursor or 0)
    rows = _inbox_after(cursor)
    if not rows:
        return dg.SkipReason("no new inventory webhooks")
    now = run_instant(settings.clock().now())  # the run's own instant: what it confirms, it sees
    debounce = timedelta(minutes=settings.detection.debounce_minutes)
    # What can be confirmed now goes at once; only when nothing can, the run is launched ahead for what
    # can be soon (an overdue restock never waits for a later one).
    last = confirmable_prefix(rows, debounce, now)
    if last is None:
        last = confirmable_prefix(rows, debounce, now + launch_ahead(settings))
    if last is None:
        return dg.SkipReason(f"{len(rows)} inventory webhooks still inside the debounce window")
    confirmable = max(confirmable_at(row, debounce) for row in rows if row.id <= last)
    return alerts_run_for(
        context, confirmable=confirmable, now=now, trigger="webhook_inbox", key=str(last), what="webhooks"
    )


class AskedFor:
    """The alerts run a sensor of this process asked for last, per instance, until the daemon has created
    it. The webhook sensor and the reconciliation check are evaluated side by side (the daemon's sensor
    threads) and often see the same restock at the same tick: both would find no run yet and ask for one
    each, two runs for one restock, the second holding the warehouse for nothing. Under one lock, the
    second sees the first's request. Forgotten once any alerts run was created after it, or after
    `ASKED_FOR_KEPT` (the daemon did not create it: the next tick asks again)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.asked: dict[str, tuple[datetime, datetime]] = {}  # instance folder -> (as_of, when asked)

    def pending(self, instance: dg.DagsterInstance) -> datetime | None:
        """The `as_of` of a request whose run does not exist yet, if one was made a moment ago."""
        entry = self.asked.get(instance.root_directory)
        if entry is None:
            return None
        as_of, at = entry
        # A second's margin: the run's creation time is the storage's, not this process's clock.
        created = instance.get_run_records(
            dg.RunsFilter(job_name=alerts_job.name, created_after=at - timedelta(seconds=1)), limit=1
        )
        if created or datetime.now(UTC) - at > ASKED_FOR_KEPT:
            del self.asked[instance.root_directory]
            return None
        return as_of

    def remember(self, instance: dg.DagsterInstance, as_of: datetime) -> None:
        self.asked[instance.root_directory] = (as_of, datetime.now(UTC))


ASKED_FOR = AskedFor()


def alerts_run_for(
    context: dg.SensorEvaluationContext,
    *,
    confirmable: datetime,
    now: datetime,
    trigger: str,
    key: str,
    what: str,
) -> dg.SensorResult | dg.SkipReason:
    """An alerts run for changes confirmable at `confirmable`, the cursor moved to `key`: as of `now`, or
    as of `confirmable` (its next whole second) when that is still ahead, launched at once and waiting for
    it (`launch_ahead`); none when a run as of a late enough instant already sees them (one restock, one
    run), and none yet while one is in progress or was just asked for by the other sensor (the cursor
    stays: the next tick asks again)."""
    with ASKED_FOR.lock:
        covered = latest_as_of(context.instance, alerts_job.name)
        if covered is not None and covered >= confirmable:
            return dg.SensorResult(
                skip_reason=f"an alerts run as of {format_instant(covered)} sees these {what}", cursor=key
            )
        if run_in_progress(context.instance, alerts_job.name):
            return dg.SkipReason(f"an alerts run is in progress: the confirmed {what} wait for the next tick")
        asked = ASKED_FOR.pending(context.instance)
        if asked is not None:
            return dg.SkipReason(
                f"an alerts run as of {format_instant(asked)} was just asked for: these {what} wait for it"
            )
        instant = max(now, whole_second_after(confirmable))
        ASKED_FOR.remember(context.instance, instant)
    as_of = format_instant(instant)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{trigger.replace('_', '-')}-{key}",
                run_config=run_config(as_of, wait_for_as_of=instant > now),
                tags=run_tags(trigger, as_of),
            )
        ],
        cursor=key,
    )


def _metadata_value(instance: dg.DagsterInstance, run_id: str, name: str) -> object:
    """A value a run's materialization reported in its metadata (None when none did)."""
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is not None and name in materialization.metadata:
            return materialization.metadata[name].value
    return None


def _metadata_count(instance: dg.DagsterInstance, run_id: str, name: str) -> int:
    """A count a run's materialization reported in its metadata (0 when none did)."""
    return int(_metadata_value(instance, run_id, name) or 0)


@dg.run_status_sensor(
    name="dispatch_after_enqueue",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[alerts_job],
    request_job=dispatch_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the dispatcher at once when an alerts run enqueued jobs it could not send all of "
    "itself and none is running.",
)
def dispatch_after_enqueue(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    run_id = context.dagster_run.run_id
    if not _metadata_count(context.instance, run_id, "jobs_enqueued"):
        return dg.SkipReason("the alerts run enqueued nothing")
    if _metadata_value(context.instance, run_id, "sends_drained"):
        return dg.SkipReason("the alerts run sent everything that could go now; the schedule does the rest")
    if run_in_progress(context.instance, dispatch_job.name):
        return dg.SkipReason("a dispatcher is running: it claims the new jobs")
    as_of = format_instant(load_settings().clock().now())
    return dg.RunRequest(
        run_key=f"after-{context.dagster_run.run_id}",
        # Past the next tick when that is near (the tick is then skipped): never a run of a few seconds.
        run_config=run_config(as_of, dispatch=dispatch_until(datetime.now(UTC) + AFTER_ENQUEUE_AT_LEAST)),
        tags=run_tags("after_enqueue", as_of),
    )


@dg.run_status_sensor(
    name="analytics_after_sends",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[dispatch_job, alerts_job],
    request_job=analytics_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the KPI marts after a run that sent messages (a dispatch run, or an alerts run "
    "that sent the jobs it enqueued).",
)
def analytics_after_sends(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    if not _metadata_count(context.instance, context.dagster_run.run_id, "sent"):
        return dg.SkipReason(f"the {context.dagster_run.job_name} run sent nothing")
    if run_in_progress(context.instance, alerts_job.name):
        # Alerts first: analytics would hold the warehouse for the length of a full dbt build.
        return dg.SkipReason("an alerts run is going; the analytics schedule picks these sends up")
    if run_in_progress(context.instance, analytics_job.name):
        return dg.SkipReason("an analytics run is in progress")
    latest = context.instance.get_run_records(dg.RunsFilter(job_name=analytics_job.name), limit=1)
    if latest and utc(latest[0].create_timestamp) > datetime.now(UTC) - ANALYTICS_AFTER_SENDS_SPACING:
        return dg.SkipReason("analytics ran a moment ago; its schedule picks these sends up")
    as_of = format_instant(load_settings().clock().now())
    return dg.RunRequest(
        run_key=f"after-{context.dagster_run.run_id}",
        run_config=run_config(as_of),
        tags=run_tags("after_sends", as_of),
    )


SENSORS = [webhook_inbox_sensor, dispatch_after_enqueue, analytics_after_sends]
