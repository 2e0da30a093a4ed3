"""Failures in sight: the conditions an operator must hear about, kept as open alerts in the operational
store (one per kind and subject, `backinstock.store.alerts`), and each sent once to the configured webhook.

Conditions are decided from the store (lanes, dead letters) and the Dagster instance (failed runs, when the
inventory was last ingested); an alert is resolved when its condition clears (a stopped lane only when a
person resumes it, `lanes.resume`). Sending is separate from deciding: an alert whose webhook call failed
is sent again on the next tick, and one already sent is never sent twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from backinstock.clock import format_instant
from backinstock.settings import AlertSettings
from backinstock.store.alerts import open_alerts, raise_alert, resolve_alerts
from backinstock.store.jobs import DEAD_LETTER, counts_by_status
from backinstock.store.lanes import all_lanes

RUN_FAILED = "run_failed"
LANE_PAUSED = "lane_paused"
DEAD_LETTERS = "dead_letters"
STALE_INPUT = "stale_input"
# The kinds this module opens and resolves by itself (a stopped lane is opened by dispatch and resolved by
# the person who resumes it; a failed run by the job's next success).
CONDITION_KINDS = (LANE_PAUSED, DEAD_LETTERS, STALE_INPUT)
WEBHOOK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str
    message: str


def lane_conditions(
    lanes: Iterable[Mapping[str, Any]], now: datetime, paused_over: timedelta
) -> list[Condition]:
    """Lanes paused for longer than `paused_over` from now (a short pause after a 429 is routine)."""
    found = []
    for lane in lanes:
        paused_until = lane.get("paused_until")
        if lane.get("stopped_at") is None and paused_until is not None and paused_until - now > paused_over:
            found.append(
                Condition(
                    LANE_PAUSED,
                    lane["name"],
                    f"lane {lane['name']} paused until {format_instant(paused_until)}: "
                    f"{lane.get('pause_reason')}",
                )
            )
    return found


def dead_letter_conditions(counts: Mapping[str, int], over: int) -> list[Condition]:
    dead = counts.get(DEAD_LETTER, 0)
    if dead <= over:
        return []
    return [
        Condition(
            DEAD_LETTERS,
            "notification_jobs",
            f"{dead} jobs in the dead-letter queue (threshold {over}): see `backinstock replay`",
        )
    ]


def stale_conditions(
    last_ingests: Mapping[str, datetime | None], now: datetime, after: timedelta
) -> list[Condition]:
    """Inputs not ingested for longer than `after` (never ingested counts as stale)."""
    return [
        Condition(
            STALE_INPUT,
            name,
            f"{name} last ingested {format_instant(last) if last else 'never'}, more than "
            f"{after.total_seconds() / 60:g} minutes ago: the alerts path may have stopped",
        )
        for name, last in last_ingests.items()
        if last is None or now - last > after
    ]


def store_conditions(connection: sa.Connection, settings: AlertSettings, now: datetime) -> list[Condition]:
    return [
        *lane_conditions(all_lanes(connection), now, timedelta(minutes=settings.lane_paused_minutes)),
        *dead_letter_conditions(counts_by_status(connection), settings.dead_letters_over),
    ]


def reconcile(connection: sa.Connection, conditions: Iterable[Condition], now: datetime) -> None:
    """Open an alert for every condition, resolve the condition kinds' alerts that no longer hold."""
    current = {(condition.kind, condition.subject) for condition in conditions}
    for condition in conditions:
        raise_alert(
            connection, kind=condition.kind, subject=condition.subject, message=condition.message, now=now
        )
    for alert in open_alerts(connection):
        if alert["kind"] in CONDITION_KINDS and (alert["kind"], alert["subject"]) not in current:
            resolve_alerts(
                connection, kind=alert["kind"], subject=alert["subject"], by="condition cleared", now=now
            )


def payload(alert: Mapping[str, Any]) -> dict[str, Any]:
    """What the webhook receives: the alert, and a `text` line chat tools show as is."""
    return {
        "id": alert["id"],
        "kind": alert["kind"],
        "subject": alert["subject"],
        "message": alert["message"],
        "raised_at": format_instant(alert["raised_at"]),
        "source": "back_in_stock",
        "text": f"[back_in_stock] {alert['kind']} {alert['subject']}: {alert['message']}",
    }


def send_new(
    alerts: Iterable[Mapping[str, Any]], already_sent: set[int], webhook_url: str, http: httpx.Client
) -> tuple[set[int], list[str]]:
    """Send the open alerts not sent yet; returns the ids sent by now (among the open ones) and errors."""
    sent: set[int] = set()
    errors: list[str] = []
    for alert in alerts:
        if alert["id"] in already_sent:
            sent.add(alert["id"])
            continue
        if not webhook_url:
            continue
        try:
            http.post(webhook_url, json=payload(alert), timeout=WEBHOOK_TIMEOUT_SECONDS).raise_for_status()
        except httpx.HTTPError as error:
            errors.append(f"alert {alert['id']}: {type(error).__name__}: {error}")
            continue
        sent.add(alert["id"])
    return sent, errors


def raise_run_failure(
    connection: sa.Connection, *, job_name: str, run_id: str, error: str, now: datetime
) -> bool:
    """A run failed: one open alert per job until a later run of it succeeds."""
    return raise_alert(
        connection,
        kind=RUN_FAILED,
        subject=job_name,
        message=f"run {run_id} of {job_name} failed: {error}"[:4000],
        now=now,
    )


def resolve_run_failure(connection: sa.Connection, *, job_name: str, run_id: str, now: datetime) -> int:
    return resolve_alerts(
        connection, kind=RUN_FAILED, subject=job_name, by=f"run {run_id} succeeded", now=now
    )
