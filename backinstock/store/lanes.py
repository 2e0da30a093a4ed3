"""Lanes: one per provider account, in the store so that every worker shares their state.

- Pacing is GCRA (a token bucket of `burst` tokens refilled at `rate_per_second`): `next_slot_epoch` is the
  lane's next free send slot; a worker reserves a run of slots in one UPDATE, so workers on other machines
  interleave their slots and the lane's rate holds across all of them.
- A provider's rate-limit answer pauses the lane until the hinted instant (`paused_until`); every worker
  stops claiming and reserving until then. An account error stops it until a person resumes it
  (`resume`, audited), with an alert.
- Per-recipient-domain caps count sends per clock minute in `lane_domain_counts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from backinstock.store import alerts, audit
from backinstock.store.sql import insert_ignoring_conflicts, upsert_newer
from backinstock.store.tables import lane_domain_counts, lanes

CONFIG_COLUMNS = (
    "provider",
    "channel",
    "shops",
    "rate_per_second",
    "burst",
    "concurrency",
    "per_domain_per_minute",
    "domain_caps",
    "quiet_hours",
    "unknown_outcome",
)


def sync(connection: sa.Connection, configs: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """Mirror the configured lanes' limits into the store (their shared state is kept)."""
    rows = [
        {"name": config["name"], **{key: config[key] for key in CONFIG_COLUMNS}, "configured_at": now}
        for config in configs
    ]
    for row in rows:
        row["updated_at"] = now
    upsert_newer(connection, lanes, rows, ("name",), "configured_at")


def get_lane(connection: sa.Connection, name: str) -> dict[str, Any] | None:
    row = connection.execute(sa.select(lanes).where(lanes.c.name == name)).first()
    return None if row is None else dict(row._mapping)


def all_lanes(connection: sa.Connection) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(sa.select(lanes).order_by(lanes.c.name))]


def open_at(lane: Mapping[str, Any], now: datetime) -> bool:
    """May the lane send now: not stopped by an account error, not paused past `now`."""
    paused_until = lane.get("paused_until")
    return lane.get("stopped_at") is None and (paused_until is None or paused_until <= now)


def _sendable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        lanes.c.stopped_at.is_(None), sa.or_(lanes.c.paused_until.is_(None), lanes.c.paused_until <= now)
    )


def reserve_slots(
    connection: sa.Connection, name: str, *, count: int, rate: float, burst: int, now: datetime
) -> float | None:
    """Reserve `count` send slots spaced `1 / rate` seconds apart; returns the epoch second of the first,
    or None when the lane is paused or stopped. Never earlier than `burst - 1` slots before now."""
    spacing = 1.0 / rate
    floor = now.timestamp() - (burst - 1) * spacing
    slot = sa.func.coalesce(lanes.c.next_slot_epoch, floor)
    ends = connection.execute(
        sa.update(lanes)
        .where(lanes.c.name == name, _sendable(now))
        .values(next_slot_epoch=sa.case((slot > floor, slot), else_=floor) + count * spacing)
        .returning(lanes.c.next_slot_epoch)
    ).scalar()
    return None if ends is None else ends - count * spacing


def reserve_domain(
    connection: sa.Connection, name: str, *, domain: str, minute: datetime, count: int, cap: int
) -> int:
    """Take up to `count` of the domain's sends for the clock minute starting at `minute`, at most `cap`
    in all; returns how many were granted."""
    table = lane_domain_counts.c
    key = sa.and_(table.lane == name, table.domain == domain, table.minute == minute)
    # Make the minute's row exist, then lock it (an update of nothing), so two workers cannot both read
    # the same count; the SQLite writer lock and PostgreSQL's row lock both hold to the commit.
    first = {"lane": name, "domain": domain, "minute": minute, "sent": 0}
    insert_ignoring_conflicts(connection, lane_domain_counts, [first], ("lane", "domain", "minute"))
    connection.execute(sa.update(lane_domain_counts).where(key).values(sent=table.sent))
    taken = connection.execute(sa.select(table.sent).where(key)).scalar_one()
    granted = max(0, min(count, cap - taken))
    if granted:
        connection.execute(sa.update(lane_domain_counts).where(key).values(sent=table.sent + granted))
    return granted


def prune_domain_counts(connection: sa.Connection, before: datetime) -> int:
    return connection.execute(
        sa.delete(lane_domain_counts).where(lane_domain_counts.c.minute < before)
    ).rowcount


def pause(connection: sa.Connection, name: str, *, until: datetime, reason: str, now: datetime) -> None:
    """Pause the lane until `until` (a later pause already stored wins)."""
    paused = lanes.c.paused_until
    connection.execute(
        sa.update(lanes)
        .where(lanes.c.name == name, sa.or_(paused.is_(None), paused < until))
        .values(paused_until=until, pause_reason=reason, updated_at=now)
    )


def stop(connection: sa.Connection, name: str, *, reason: str, now: datetime) -> bool:
    """Stop the lane until a person resumes it, and raise an alert; True when it was running."""
    stopped = connection.execute(
        sa.update(lanes)
        .where(lanes.c.name == name, lanes.c.stopped_at.is_(None))
        .values(stopped_at=now, stopped_reason=reason, updated_at=now)
    ).rowcount
    if stopped:
        alerts.raise_alert(
            connection,
            kind=alerts.LANE_STOPPED,
            subject=name,
            message=f"lane {name} stopped: {reason}. Fix the account, then resume the lane.",
            now=now,
        )
    return stopped == 1


def resume(
    connection: sa.Connection, name: str, *, actor: str, now: datetime, reason: str, source: str | None = None
) -> dict[str, Any]:
    """A person resumes a stopped or paused lane: it sends again at once; the alert is resolved and the
    action audited. Returns the lane as it is now."""
    before = get_lane(connection, name)
    if before is None:
        raise LookupError(f"no lane named {name!r}")
    if not reason.strip():
        raise ValueError("resuming a lane needs a reason")
    connection.execute(
        sa.update(lanes)
        .where(lanes.c.name == name)
        .values(paused_until=None, pause_reason=None, stopped_at=None, stopped_reason=None, updated_at=now)
    )
    alerts.resolve_alerts(connection, kind=alerts.LANE_STOPPED, subject=name, by=actor, now=now)
    state = ("stopped_at", "stopped_reason", "paused_until", "pause_reason")
    audit.record(
        connection,
        actor=actor,
        action="lane.resume",
        target_type="lane",
        target_id=name,
        now=now,
        before={key: _plain(before[key]) for key in state},
        after={key: None for key in state},
        reason=reason.strip(),
        source=source,
    )
    after = get_lane(connection, name)
    assert after is not None
    return after


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def next_minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)
