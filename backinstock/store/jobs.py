"""Notification jobs: one per subscription, claimed under a lease, moved through their states by dispatch.

States: pending -> sending -> sent; sending -> retry_scheduled -> sending; sending -> failed_permanent |
dead_letter; sending -> skipped (no longer eligible at send time). A claim is a compare-and-set UPDATE
checked by its rowcount, so two workers never own one job; every later move checks the lease owner too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from backinstock.clock import format_instant, utc
from backinstock.store.catalog import numeric_id
from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.tables import notification_attempts, notification_jobs

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
RETRY_SCHEDULED = "retry_scheduled"
FAILED_PERMANENT = "failed_permanent"
DEAD_LETTER = "dead_letter"
SKIPPED = "skipped"
CLAIMABLE = (PENDING, RETRY_SCHEDULED)
RETRYABLE_OUTCOMES = ("transient", "rate_limited", "unknown")
CLAIM_WINDOW = 16  # candidates read per claim; a lost compare-and-set moves on to the next one
HELD_FOR_REVIEW = (
    "outcome unknown: the lease expired after the provider was called and before its answer was recorded;"
    " held for review (replay to resend)"
)
UNANSWERED = "outcome unknown: the provider was called and did not answer; held for review (replay to resend)"
NEVER_SENT = "lease expired before the provider was called; returned to the queue"


def product_url(shop: str, handle: str, variant_id: str) -> str:
    return f"https://{shop}/products/{handle}?variant={numeric_id(variant_id)}"


def _money(value: Any) -> str | None:
    return None if value is None else f"{Decimal(str(value)):.2f}"


def message_context(target: Mapping[str, Any]) -> dict[str, Any]:
    """What the message will say, frozen when the job is made (later catalog edits do not change it)."""
    return {
        "target_id": str(target["target_id"]),
        "restock_event_id": str(target["restock_event_id"]),
        "restocked_at": format_instant(utc(target["restocked_at"])),
        "product_id": target["product_id"],
        "variant_id": target["variant_id"],
        "product_title": target["product_title"],
        "variant_title": target["variant_title"],
        "product_handle": target["product_handle"],
        "price": _money(target["price"]),
        "currency_code": target["currency_code"],
        "shop_name": target["shop_name"],
        "product_url": product_url(target["shop"], target["product_handle"], target["variant_id"]),
    }


def enqueue_targets(connection: sa.Connection, targets: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """One `pending` job per target's subscription; targets that already have a job insert nothing."""
    rows = [
        {
            "shop": target["shop"],
            "restock_event_id": str(target["restock_event_id"]),
            "subscription_id": int(target["subscription_id"]),
            "variant_id": target["variant_id"],
            "channel": target["channel"],
            "contact": target["contact"],
            "locale": target["locale"],
            "status": PENDING,
            "priority": int(target["target_rank"]),
            "context": message_context(target),
            "due_at": now,
            "attempt_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for target in targets
    ]
    return insert_ignoring_conflicts(connection, notification_jobs, rows, ("subscription_id",))


@dataclass(frozen=True)
class Job:
    """A job as its lease holder sees it."""

    id: int
    shop: str
    subscription_id: int
    variant_id: str
    channel: str
    contact: str
    locale: str
    context: dict[str, Any]
    attempt_count: int


def get_job(connection: sa.Connection, job_id: int) -> dict[str, Any] | None:
    row = connection.execute(sa.select(notification_jobs).where(notification_jobs.c.id == job_id)).first()
    return None if row is None else dict(row._mapping)


def _load(connection: sa.Connection, job_id: int) -> Job:
    row = connection.execute(sa.select(notification_jobs).where(notification_jobs.c.id == job_id)).one()
    return Job(
        id=row.id,
        shop=row.shop,
        subscription_id=row.subscription_id,
        variant_id=row.variant_id,
        channel=row.channel,
        contact=row.contact,
        locale=row.locale,
        context=dict(row.context),
        attempt_count=row.attempt_count,
    )


def claim_next(
    connection: sa.Connection, *, channel: str, worker_id: str, lease_seconds: int, now: datetime
) -> Job | None:
    """Lease the next due job of the channel (lowest priority number, then oldest), or None when none is due.

    Due: `pending` or `retry_scheduled` with `due_at <= now`. PostgreSQL skips rows another worker has
    locked; on either dialect the compare-and-set decides who owns a job.
    """
    jobs = notification_jobs.c
    due = sa.and_(jobs.channel == channel, jobs.status.in_(CLAIMABLE), jobs.due_at <= now)
    while True:
        candidates = connection.execute(
            sa.select(jobs.id, jobs.status)
            .where(due)
            .order_by(jobs.priority, jobs.id)
            .limit(CLAIM_WINDOW)
            .with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            return None
        for candidate in candidates:
            claimed = connection.execute(
                sa.update(notification_jobs)
                .where(jobs.id == candidate.id, jobs.status == candidate.status, jobs.due_at <= now)
                .values(
                    status=SENDING,
                    lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            ).rowcount
            if claimed == 1:
                return _load(connection, candidate.id)


def _owned(job_id: int, worker_id: str) -> sa.ColumnElement[bool]:
    jobs = notification_jobs.c
    return sa.and_(jobs.id == job_id, jobs.status == SENDING, jobs.lease_owner == worker_id)


def start_attempt(
    connection: sa.Connection, job: Job, *, worker_id: str, provider: str, now: datetime
) -> int | None:
    """Record an attempt before the provider is called; its id, or None when the lease was lost."""
    counted = connection.execute(
        sa.update(notification_jobs)
        .where(_owned(job.id, worker_id))
        .values(attempt_count=notification_jobs.c.attempt_count + 1, updated_at=now)
    ).rowcount
    if counted != 1:
        return None
    number = connection.execute(
        sa.select(notification_jobs.c.attempt_count).where(notification_jobs.c.id == job.id)
    ).scalar_one()
    result = connection.execute(
        sa.insert(notification_attempts).values(
            job_id=job.id, attempt_number=number, provider=provider, started_at=now
        )
    )
    return result.inserted_primary_key[0]


def finish_attempt(
    connection: sa.Connection,
    attempt_id: int,
    *,
    status_code: int | None,
    outcome: str,
    provider_message_id: str | None,
    error: str | None,
    retry_after_seconds: float | None,
    latency_ms: float,
    finished_at: datetime,
) -> None:
    """Write the provider's answer on the attempt (it is the truth, even if the lease was lost meanwhile)."""
    connection.execute(
        sa.update(notification_attempts)
        .where(notification_attempts.c.id == attempt_id)
        .values(
            status_code=status_code,
            outcome=outcome,
            provider_message_id=provider_message_id,
            error_message=error,
            retry_after_seconds=retry_after_seconds,
            latency_ms=latency_ms,
            finished_at=finished_at,
        )
    )


def retryable_failures(connection: sa.Connection, job_id: int) -> int:
    """Answers that count towards `max_attempts` (account failures do not: they are not the job's fault)."""
    attempts = notification_attempts.c
    return connection.execute(
        sa.select(sa.func.count())
        .select_from(notification_attempts)
        .where(attempts.job_id == job_id, attempts.outcome.in_(RETRYABLE_OUTCOMES))
    ).scalar_one()


def _settle(connection: sa.Connection, job: Job, worker_id: str, now: datetime, **values: Any) -> bool:
    released = {"lease_owner": None, "lease_expires_at": None, "updated_at": now}
    return (
        connection.execute(
            sa.update(notification_jobs).where(_owned(job.id, worker_id)).values(**released, **values)
        ).rowcount
        == 1
    )


def mark_sent(
    connection: sa.Connection, job: Job, *, worker_id: str, provider_message_id: str | None, now: datetime
) -> bool:
    return _settle(
        connection,
        job,
        worker_id,
        now,
        status=SENT,
        sent_at=now,
        provider_message_id=provider_message_id,
        last_error=None,
    )


def schedule_retry(
    connection: sa.Connection, job: Job, *, worker_id: str, due_at: datetime, error: str, now: datetime
) -> bool:
    return _settle(connection, job, worker_id, now, status=RETRY_SCHEDULED, due_at=due_at, last_error=error)


def close_job(
    connection: sa.Connection, job: Job, *, worker_id: str, status: str, error: str, now: datetime
) -> bool:
    """Move an owned job to a final state (`skipped`, `failed_permanent`, `dead_letter`) with the reason."""
    if status not in (SKIPPED, FAILED_PERMANENT, DEAD_LETTER):
        raise ValueError(f"not a final state: {status}")
    return _settle(connection, job, worker_id, now, status=status, last_error=error)


@dataclass(frozen=True)
class LeaseRecovery:
    held_for_review: int  # the provider may have been called: the outcome is unknown
    requeued: int  # the provider was never called: safe to send


def recover_expired_leases(connection: sa.Connection, now: datetime) -> LeaseRecovery:
    """Return jobs whose worker vanished while `sending`.

    Policy: an attempt without an answer means the provider may have accepted the message, and no provider
    we use takes an idempotency key, so resending could notify twice. Such a job is never resent blindly:
    its attempt is marked `unknown` and the job goes to `dead_letter`, held for a person to review and
    replay. A job whose lease expired before any attempt was recorded was never sent: it is due again now.
    """
    jobs, attempts = notification_jobs.c, notification_attempts.c
    expired = connection.execute(
        sa.select(jobs.id).where(jobs.status == SENDING, jobs.lease_expires_at < now).order_by(jobs.id)
    ).scalars()
    held = requeued = 0
    for job_id in list(expired):
        open_attempt = connection.execute(
            sa.select(attempts.id).where(attempts.job_id == job_id, attempts.outcome.is_(None)).limit(1)
        ).scalar()
        status, error = (DEAD_LETTER, HELD_FOR_REVIEW) if open_attempt else (RETRY_SCHEDULED, NEVER_SENT)
        moved = connection.execute(
            sa.update(notification_jobs)
            .where(jobs.id == job_id, jobs.status == SENDING, jobs.lease_expires_at < now)
            .values(
                status=status,
                due_at=now,
                last_error=error,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        ).rowcount
        if moved != 1:
            continue
        if open_attempt:
            connection.execute(
                sa.update(notification_attempts)
                .where(attempts.id == open_attempt, attempts.outcome.is_(None))
                .values(outcome="unknown", finished_at=now, error_message="lease expired before an answer")
            )
            held += 1
        else:
            requeued += 1
    return LeaseRecovery(held_for_review=held, requeued=requeued)
