"""Read models of the queue for the console and the CLI: jobs per state per shop, channel and lane, how late
the oldest due job is, what each lane achieved lately, and the lanes' pauses and stops.

Every query groups or filters on indexed columns, so a page stays fast with millions of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from backinstock.store.lanes import all_lanes
from backinstock.store.tables import CLAIMABLE_PREDICATE, JOB_STATUSES, notification_jobs

RATE_WINDOW = timedelta(minutes=15)


@dataclass
class QueueRow:
    """Jobs of one shop, channel and lane (None: not claimed by any lane yet), counted per state."""

    shop: str
    channel: str
    lane: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(JOB_STATUSES, 0))
    oldest_due_at: datetime | None = None  # of the claimable jobs already due (pending or retry)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class QueueState:
    as_of: datetime
    rows: list[QueueRow]
    totals: dict[str, int]
    oldest_due_at: datetime | None
    sent_per_lane: dict[str, int]  # sent within `window`, per lane
    window: timedelta
    lanes: list[dict[str, Any]]

    def age(self, instant: datetime | None) -> timedelta | None:
        return None if instant is None else max(self.as_of - instant, timedelta(0))

    def rate_per_minute(self, lane: str) -> float:
        return self.sent_per_lane.get(lane, 0) / (self.window.total_seconds() / 60)


def queue_state(
    connection: sa.Connection, *, now: datetime, shop: str | None = None, window: timedelta = RATE_WINDOW
) -> QueueState:
    """The queue as of `now`, for one shop or all."""
    jobs = notification_jobs.c
    scope = [jobs.shop == shop] if shop else []
    rows: dict[tuple[str, str, str | None], QueueRow] = {}
    counted = connection.execute(
        sa.select(jobs.shop, jobs.channel, jobs.lane, jobs.status, sa.func.count())
        .where(*scope)
        .group_by(jobs.shop, jobs.channel, jobs.lane, jobs.status)
    )
    for row_shop, channel, lane, status, count in counted:
        row = rows.setdefault((row_shop, channel, lane), QueueRow(row_shop, channel, lane))
        row.counts[status] = count
    due = connection.execute(
        sa.select(jobs.shop, jobs.channel, jobs.lane, sa.func.min(jobs.due_at))
        .where(sa.text(CLAIMABLE_PREDICATE), jobs.due_at <= now, *scope)
        .group_by(jobs.shop, jobs.channel, jobs.lane)
    )
    for row_shop, channel, lane, oldest in due:
        if (row_shop, channel, lane) in rows:
            rows[(row_shop, channel, lane)].oldest_due_at = oldest
    sent = connection.execute(
        sa.select(jobs.lane, sa.func.count())
        .where(jobs.status == "sent", jobs.sent_at > now - window, jobs.sent_at <= now, *scope)
        .group_by(jobs.lane)
    )
    ordered = sorted(rows.values(), key=lambda row: (row.shop, row.channel, row.lane or ""))
    totals = {status: sum(row.counts[status] for row in ordered) for status in JOB_STATUSES}
    oldest = min((row.oldest_due_at for row in ordered if row.oldest_due_at), default=None)
    return QueueState(
        as_of=now,
        rows=ordered,
        totals=totals,
        oldest_due_at=oldest,
        sent_per_lane={lane: count for lane, count in sent if lane},
        window=window,
        lanes=all_lanes(connection),
    )
