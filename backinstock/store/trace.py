"""Read model of the execution trace: the jobs of a restock event or of a person, and a job with every
attempt, the provider's later events and the subscription (with its proof of consent) it answers.

For the console and the CLI; every lookup reads by an index (restock_event_id, contact, job id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import (
    notification_attempts,
    notification_jobs,
    provider_events,
    subscriptions,
)

LIMIT = 500
SUMMARY = [
    notification_jobs.c[name]
    for name in (
        "id", "shop", "restock_event_id", "subscription_id", "variant_id", "channel", "contact",
        "locale", "status", "priority", "due_at", "attempt_count", "lane", "last_error",
        "last_error_class", "created_at", "updated_at", "sent_at", "context",
    )
]  # fmt: skip


def _rows(connection: sa.Connection, query: sa.Select) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(query)]


def jobs_of_restock(
    connection: sa.Connection, restock_event_id: str, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """The event's jobs in their send order (rank among its targets)."""
    jobs = notification_jobs.c
    query = sa.select(*SUMMARY).where(jobs.restock_event_id == restock_event_id)
    return _rows(connection, query.order_by(jobs.priority, jobs.id).limit(limit))


def jobs_of_contact(connection: sa.Connection, contact: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    """A person's jobs, newest first; emails are stored lower-cased, phones in E.164."""
    jobs = notification_jobs.c
    wanted = contact.strip().lower() if "@" in contact else contact.strip()
    query = sa.select(*SUMMARY).where(jobs.contact == wanted)
    return _rows(connection, query.order_by(jobs.id.desc()).limit(limit))


def jobs_by_ids(connection: sa.Connection, job_ids: Sequence[int]) -> list[dict[str, Any]]:
    jobs = notification_jobs.c
    if not job_ids:
        return []
    return _rows(connection, sa.select(*SUMMARY).where(jobs.id.in_(sorted(set(job_ids)))).order_by(jobs.id))


def attempts_of(connection: sa.Connection, job_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Every attempt of these jobs, in order, per job."""
    found: dict[int, list[dict[str, Any]]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return found
    attempts = notification_attempts.c
    query = (
        sa.select(notification_attempts)
        .where(attempts.job_id.in_(sorted(set(job_ids))))
        .order_by(attempts.job_id, attempts.attempt_number)
    )
    for row in _rows(connection, query):
        found[row["job_id"]].append(row)
    return found


def job_trace(connection: sa.Connection, job_id: int) -> dict[str, Any] | None:
    """A job, its attempts, the provider events about it, and the subscription it answers."""
    [job] = jobs_by_ids(connection, [job_id]) or [None]
    if job is None:
        return None
    events = provider_events.c
    return {
        "job": job,
        "attempts": attempts_of(connection, [job_id])[job_id],
        "events": _rows(
            connection,
            sa.select(
                events.provider,
                events.lane,
                events.event_type,
                events.occurred_at,
                events.received_at,
                events.detail,
                events.provider_message_id,
            )
            .where(events.job_id == job_id)
            .order_by(events.occurred_at, events.id),
        ),
        "subscription": _rows(
            connection, sa.select(subscriptions).where(subscriptions.c.id == job["subscription_id"])
        )[0],
    }
