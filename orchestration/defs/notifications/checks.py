"""Checks on the deliveries, beside the dispatch asset in the UI: every lane sending, the dead-letter queue
under its threshold, no due job left waiting. A green asset used to hide a lane stopped on a 401 or a
growing dead-letter count in its metadata; these fail instead. They read only the operational store, as of
the settings' clock (the dispatcher's), and run after every dispatch run; the same conditions raise alerts
(orchestration/alert_sensors.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa

from backinstock.clock import format_instant, utc
from backinstock.store.jobs import CLAIMABLE, DEAD_LETTER, counts_by_status
from backinstock.store.lanes import all_lanes
from backinstock.store.tables import notification_jobs
from orchestration import alerting
from orchestration.common import store_engine
from orchestration.defs.notifications.assets import notification_deliveries
from orchestration.resources import BackInStockSettings

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def lane_state(lane: Mapping[str, Any], now: datetime) -> str:
    if lane.get("stopped_at") is not None:
        return "stopped"
    paused_until = lane.get("paused_until")
    return "paused" if paused_until is not None and paused_until > now else "sending"


def lanes_result(
    lanes: Iterable[Mapping[str, Any]], now: datetime, paused_over: timedelta
) -> dg.AssetCheckResult:
    """Fails (error) while a lane is stopped (only a person resuming it sends again), and (warning) while
    one is paused for longer than `paused_over` from now."""
    lanes = list(lanes)
    stopped = [lane["name"] for lane in lanes if lane.get("stopped_at") is not None]
    paused = [condition.subject for condition in alerting.lane_conditions(lanes, now, paused_over)]
    return dg.AssetCheckResult(
        passed=not stopped and not paused,
        severity=ERROR if stopped else WARN,
        metadata={
            "lanes": {lane["name"]: lane_state(lane, now) for lane in lanes},
            "stopped": stopped,
            "paused_long": paused,
        },
    )


def dead_letters_result(counts: Mapping[str, int], over: int) -> dg.AssetCheckResult:
    dead = counts.get(DEAD_LETTER, 0)
    return dg.AssetCheckResult(
        passed=dead <= over, severity=WARN, metadata={"dead_letters": dead, "threshold": over}
    )


def oldest_pending_result(oldest_due: datetime | None, now: datetime, over: timedelta) -> dg.AssetCheckResult:
    """Fails when a job has been due for longer than `over` without being sent: the dispatcher is not
    running or not keeping up. Jobs due later (a held-out target's) do not count."""
    age = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
    return dg.AssetCheckResult(
        passed=age <= over.total_seconds(),
        severity=WARN,
        metadata={
            "oldest_pending_age_seconds": round(age, 1),
            "oldest_pending_due_at": format_instant(oldest_due) if oldest_due else "none",
            "threshold_seconds": over.total_seconds(),
        },
    )


def oldest_due(connection: sa.Connection, now: datetime) -> datetime | None:
    jobs = notification_jobs.c
    query = sa.select(sa.func.min(jobs.due_at)).where(jobs.status.in_(CLAIMABLE), jobs.due_at <= now)
    found = connection.execute(query).scalar_one()
    return utc(found) if found is not None else None


@dg.asset_check(
    asset=notification_deliveries,
    name="lanes_sending",
    description="Every lane sends: none stopped, none paused longer than [alerts] lane_paused_minutes.",
)
def lanes_sending(settings: BackInStockSettings) -> dg.AssetCheckResult:
    loaded = settings.load()
    with store_engine(loaded.operational_store_url).connect() as store:
        lanes = all_lanes(store)
    return lanes_result(lanes, loaded.clock().now(), timedelta(minutes=loaded.alerts.lane_paused_minutes))


@dg.asset_check(
    asset=notification_deliveries,
    name="dead_letters",
    description="The dead-letter queue holds at most [alerts] dead_letters_over jobs.",
)
def dead_letters(settings: BackInStockSettings) -> dg.AssetCheckResult:
    loaded = settings.load()
    with store_engine(loaded.operational_store_url).connect() as store:
        counts = counts_by_status(store)
    return dead_letters_result(counts, loaded.alerts.dead_letters_over)


@dg.asset_check(
    asset=notification_deliveries,
    name="oldest_pending_age",
    description="No due job waits longer than [alerts] pending_over_minutes to be sent.",
)
def oldest_pending_age(settings: BackInStockSettings) -> dg.AssetCheckResult:
    loaded = settings.load()
    now = loaded.clock().now()
    with store_engine(loaded.operational_store_url).connect() as store:
        due = oldest_due(store, now)
    return oldest_pending_result(due, now, timedelta(minutes=loaded.alerts.pending_over_minutes))


checks = [lanes_sending, dead_letters, oldest_pending_age]
