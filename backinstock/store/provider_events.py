"""Provider events: what a provider reported after it took a message (delivered, bounced, complained, ...),
normalised from its event webhook and kept once (deduplicated on the provider's own event id).

Hard bounces and complaints put the contact on the suppression list in the same transaction. The job id
the message carried makes each event evidence for the dispatcher (`jobs.resolve_held`) and a fact for the
KPIs (the table is copied into the warehouse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa

from backinstock.store import suppressions
from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.tables import PROVIDER_EVENT_TYPES, notification_jobs, provider_events

HARD_BOUNCE = "hard_bounce"
COMPLAINT = "complaint"


@dataclass(frozen=True)
class ProviderEvent:
    lane: str
    provider: str
    event_type: str  # one of PROVIDER_EVENT_TYPES
    job_id: int | None
    provider_message_id: str | None
    recipient: str | None
    occurred_at: datetime
    detail: str | None
    dedupe_key: str  # the provider's event id, or what identifies the event when it gives none
    payload: str  # the event as received
    permanent: bool = False  # a bounce that will not go away (hard bounce): suppress the contact

    def __post_init__(self) -> None:
        if self.event_type not in PROVIDER_EVENT_TYPES:
            raise ValueError(f"not a provider event type: {self.event_type}")


def record(connection: sa.Connection, events: Sequence[ProviderEvent], now: datetime) -> int:
    """Keep the events not seen before; suppress contacts that hard-bounced or complained. Returns how
    many were new."""
    rows = []
    for event in events:
        row = asdict(event)
        row.pop("permanent")
        row["dedupe_key"] = f"{event.provider}:{event.dedupe_key}"[:255]
        row["received_at"] = now
        rows.append(row)
    new = insert_ignoring_conflicts(connection, provider_events, rows, ("dedupe_key",))
    for event in events:
        reason = COMPLAINT if event.event_type == "complained" else HARD_BOUNCE if event.permanent else None
        if reason is None or event.job_id is None:
            continue
        job = connection.execute(
            sa.select(
                notification_jobs.c.shop, notification_jobs.c.channel, notification_jobs.c.contact
            ).where(notification_jobs.c.id == event.job_id)
        ).first()
        if job is not None:
            suppressions.suppress(
                connection,
                shop=job.shop,
                channel=job.channel,
                contact=job.contact,
                reason=reason,
                source=f"{event.provider} {event.event_type}",
                now=now,
            )
    return new


def events_for_job(connection: sa.Connection, job_id: int) -> list[dict]:
    table = provider_events.c
    rows = connection.execute(sa.select(provider_events).where(table.job_id == job_id).order_by(table.id))
    return [dict(row._mapping) for row in rows]
