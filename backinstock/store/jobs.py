"""Notification jobs: one per subscription, claimed in batches under a lease, moved through their states by
the dispatcher, replayed by a person.

States: pending -> sending -> sent; sending -> retry_scheduled -> sending; sending -> failed_permanent |
dead_letter | skipped | deferred | held; dead_letter | held -> pending (replay, audited); deferred ->
pending (the variant's next restock, detection's `release_deferred`).

One owner per job, checked by the store, never by timing:
- A claim is one UPDATE over the next due rows (PostgreSQL skips rows another worker has locked) that bumps
  each job's `fence`; every later move names the fence it was claimed with, so a worker whose lease was
  recovered, or whose job was released, moves nothing.
- Before the provider is called, the attempt is recorded and its number written on the job
  (`attempt_in_flight`) in one transaction. Lease recovery is one UPDATE that decides from that column on
  the same row: a job with an attempt in flight may have been sent and is held; one without goes back to
  the queue. A worker that records its attempt while recovery runs either holds the row first (recovery
  then sees the attempt) or finds the fence already moved (and never calls the provider).
- The subscription is marked notified in the transaction that moves the job to `sent`, and only for jobs
  that move.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from backinstock.clock import format_instant, utc
from backinstock.store import audit
from backinstock.store.catalog import numeric_id
from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.subscriptions import mark_notified
from backinstock.store.tables import (
    CLAIMABLE_PREDICATE,
    notification_attempts,
    notification_jobs,
    provider_events,
)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
RETRY_SCHEDULED = "retry_scheduled"
FAILED_PERMANENT = "failed_permanent"
DEAD_LETTER = "dead_letter"
SKIPPED = "skipped"
DEFERRED = "deferred"
HELD = "held"
CLAIMABLE = (PENDING, RETRY_SCHEDULED)
REPLAYABLE = (DEAD_LETTER, HELD)
FINAL = (SENT, FAILED_PERMANENT, DEAD_LETTER, SKIPPED)

# Evidence a provider took the message (it then reported on it), or refused it after all.
ACCEPTED_EVIDENCE = ("processed", "deferred", "delivered", "bounced", "complained")
REFUSED_EVIDENCE = ("dropped", "failed")

HELD_FOR_REVIEW = "outcome unknown: the provider may have accepted it; held for review (replay to resend)"
AWAITING_EVIDENCE = "outcome unknown: waiting for the provider's event webhook to tell; else replay to resend"
NEVER_SENT = "lease expired before the provider was called; back in the queue"
LEASE_EXPIRED_UNANSWERED = "lease expired before the provider answered"
CHUNK = 500  # rows per statement when a statement names jobs one by one


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


def due_at(target: Mapping[str, Any], now: datetime) -> datetime:
    """When a new job is due: at once, or `holdout_delay_minutes` later for a target the incrementality
    holdout held out (dbt's `notification_holdouts`): its conversions meanwhile are the lift's baseline."""
    if target.get("is_held_out"):
        return now + timedelta(minutes=int(target["holdout_delay_minutes"]))
    return now


def enqueue_targets(connection: sa.Connection, targets: Iterable[Mapping[str, Any]], now: datetime) -> int:
    """One `pending` job per target's subscription, due at once or, when held out, after the holdout's
    delay; targets that already have a job insert nothing."""
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
            "due_at": due_at(target, now),
            "attempt_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for target in targets
    ]
    return insert_ignoring_conflicts(connection, notification_jobs, rows, ("subscription_id",))


@dataclass(frozen=True)
class Job:
    """A job as its lease holder sees it; `fence` is the token every later move must name."""

    id: int
    shop: str
    restock_event_id: str
    subscription_id: int
    variant_id: str
    channel: str
    contact: str
    locale: str
    context: dict[str, Any]
    attempt_count: int
    failures: int
    rate_limited: int
    fence: int
    lane: str | None
    due_at: datetime
    priority: int

    @property
    def ref(self) -> tuple[int, int]:
        return (self.id, self.fence)


_JOB_COLUMNS = [notification_jobs.c[name] for name in Job.__dataclass_fields__]


def _job(row: Any) -> Job:
    values = dict(row._mapping)
    values["context"] = dict(values["context"])
    return Job(**values)


def get_job(connection: sa.Connection, job_id: int) -> dict[str, Any] | None:
    row = connection.execute(sa.select(notification_jobs).where(notification_jobs.c.id == job_id)).first()
    return None if row is None else dict(row._mapping)


def claim(
    connection: sa.Connection,
    *,
    lane: str,
    channel: str,
    worker_id: str,
    lease_seconds: float,
    now: datetime,
    limit: int,
    shops: Collection[str] = (),
    exclude_shops: Collection[str] = (),
) -> list[Job]:
    """Lease up to `limit` due jobs of the channel for `lane`, in claim order: due time, then rank among the
    restock's targets (signup order), then id. `shops` narrows to the lane's shops; `exclude_shops` leaves
    out shops inside quiet hours. One statement: it reads the claimable index from its start, whatever the
    size of the queue, and on PostgreSQL skips rows another worker has locked."""
    jobs = notification_jobs.c
    due = [sa.text(CLAIMABLE_PREDICATE), jobs.channel == channel, jobs.due_at <= now]
    if shops:
        due.append(jobs.shop.in_(sorted(shops)))
    if exclude_shops:
        due.append(jobs.shop.not_in(sorted(exclude_shops)))
    picked = (
        sa.select(jobs.id)
        .where(*due)
        .order_by(jobs.due_at, jobs.priority, jobs.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = connection.execute(
        sa.update(notification_jobs)
        .where(jobs.id.in_(picked))
        .values(
            status=SENDING,
            lane=lane,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            fence=jobs.fence + 1,
            updated_at=now,
        )
        .returning(*_JOB_COLUMNS)
    ).all()
    return sorted((_job(row) for row in rows), key=lambda job: (job.due_at, job.priority, job.id))


def _owned(refs: Sequence[tuple[int, int]]) -> sa.ColumnElement[bool]:
    """The jobs still leased under these (id, fence) refs. `id IN` first: SQLite reads a row-value IN
    through an index on `status` (every job being sent), the ids through the primary key."""
    jobs = notification_jobs.c
    return sa.and_(
        jobs.id.in_([job_id for job_id, _ in refs]),
        sa.tuple_(jobs.id, jobs.fence).in_(list(refs)),
        jobs.status == SENDING,
    )


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def renew_leases(
    connection: sa.Connection, refs: Sequence[tuple[int, int]], *, lease_seconds: float, now: datetime
) -> set[int]:
    """Heartbeat: extend the leases the worker still holds; returns the ids it still owns."""
    owned: set[int] = set()
    for chunk in _chunks(refs):
        owned.update(
            connection.execute(
                sa.update(notification_jobs)
                .where(_owned(chunk))
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
                .returning(notification_jobs.c.id)
            ).scalars()
        )
    return owned


@dataclass(frozen=True)
class Started:
    job_id: int
    fence: int
    attempt_number: int


def start_attempts(
    connection: sa.Connection,
    jobs: Sequence[Job],
    *,
    lane: str,
    provider: str,
    now: datetime,
    idempotency_key: Callable[[Job], str | None] = lambda job: None,
) -> list[Started]:
    """Record an attempt for each job the worker still owns under an unexpired lease, just before the
    provider is called; the jobs it no longer owns get none (their call must not be made)."""
    if not jobs:
        return []
    table = notification_jobs.c
    by_id = {job.id: job for job in jobs}
    counted = connection.execute(
        sa.update(notification_jobs)
        .where(_owned([job.ref for job in jobs]), table.lease_expires_at > now)
        .values(
            attempt_count=table.attempt_count + 1,
            attempt_in_flight=table.attempt_count + 1,
            updated_at=now,
        )
        .returning(table.id, table.attempt_count)
    ).all()
    started = [Started(row.id, by_id[row.id].fence, row.attempt_count) for row in counted]
    if started:
        connection.execute(
            sa.insert(notification_attempts),
            [
                {
                    "job_id": item.job_id,
                    "attempt_number": item.attempt_number,
                    "provider": provider,
                    "lane": lane,
                    "idempotency_key": idempotency_key(by_id[item.job_id]),
                    "started_at": now,
                }
                for item in started
            ],
        )
    return started


@dataclass(frozen=True)
class Answer:
    """The provider's answer to one attempt, already classified (`outcome`)."""

    job_id: int
    attempt_number: int
    outcome: str
    status_code: int | None
    provider_message_id: str | None
    error: str | None
    retry_after_seconds: float | None
    latency_ms: float
    finished_at: datetime


def record_answers(connection: sa.Connection, answers: Sequence[Answer]) -> None:
    """Write each answer on its attempt: the truth, whoever owns the job by now."""
    if not answers:
        return
    attempts = notification_attempts.c
    connection.execute(
        sa.update(notification_attempts)
        .where(
            attempts.job_id == sa.bindparam("b_job_id"),
            attempts.attempt_number == sa.bindparam("b_attempt_number"),
        )
        .values(
            outcome=sa.bindparam("b_outcome"),
            status_code=sa.bindparam("b_status_code"),
            provider_message_id=sa.bindparam("b_provider_message_id"),
            error_message=sa.bindparam("b_error"),
            retry_after_seconds=sa.bindparam("b_retry_after_seconds"),
            latency_ms=sa.bindparam("b_latency_ms"),
            finished_at=sa.bindparam("b_finished_at"),
        ),
        [{f"b_{key}": value for key, value in answer.__dict__.items()} for answer in answers],
    )


def _in_flight_attempt(column: str) -> sa.ScalarSelect:
    attempts = notification_attempts.c
    return (
        sa.select(attempts[column])
        .where(
            attempts.job_id == notification_jobs.c.id,
            attempts.attempt_number == notification_jobs.c.attempt_in_flight,
        )
        .scalar_subquery()
    )


_RELEASED = {"lease_owner": None, "lease_expires_at": None}


def mark_sent(connection: sa.Connection, refs: Sequence[tuple[int, int]], now: datetime) -> set[int]:
    """Jobs whose in-flight attempt the provider accepted (answers recorded first) become `sent`, and their
    subscriptions notified: only the jobs still owned under these fences. Returns the ids moved."""
    moved: set[int] = set()
    for chunk in _chunks(refs):
        rows = connection.execute(
            sa.update(notification_jobs)
            .where(_owned(chunk))
            .values(
                status=SENT,
                sent_at=sa.func.coalesce(_in_flight_attempt("finished_at"), now),
                provider_message_id=_in_flight_attempt("provider_message_id"),
                attempt_in_flight=None,
                last_error=None,
                last_error_class=None,
                updated_at=now,
                **_RELEASED,
            )
            .returning(notification_jobs.c.id, notification_jobs.c.subscription_id)
        ).all()
        moved.update(row.id for row in rows)
        mark_notified(connection, [row.subscription_id for row in rows], now)
    return moved


def _move(connection: sa.Connection, ref: tuple[int, int], now: datetime, **values: Any) -> bool:
    moved = connection.execute(
        sa.update(notification_jobs).where(_owned([ref])).values(updated_at=now, **_RELEASED, **values)
    )
    return moved.rowcount == 1


def schedule_retry(
    connection: sa.Connection,
    ref: tuple[int, int],
    *,
    due_at: datetime,
    error: str,
    error_class: str,
    now: datetime,
    failed: bool = True,
    rate_limited: bool = False,
) -> bool:
    """Back to the queue after an answer that may succeed later; `failed` counts it towards max attempts,
    `rate_limited` towards the 429 bound (an account refusal counts towards neither)."""
    jobs = notification_jobs.c
    return _move(
        connection,
        ref,
        now,
        status=RETRY_SCHEDULED,
        due_at=due_at,
        attempt_in_flight=None,
        failures=jobs.failures + int(failed),
        rate_limited=jobs.rate_limited + int(rate_limited),
        last_error=error,
        last_error_class=error_class,
    )


def close(
    connection: sa.Connection,
    ref: tuple[int, int],
    *,
    status: str,
    error: str,
    error_class: str,
    now: datetime,
) -> bool:
    """Move an owned job to `skipped`, `failed_permanent`, `dead_letter` or `deferred`, with the reason.
    A job with an attempt in flight keeps its attempt number only when held (see `hold`)."""
    if status not in (SKIPPED, FAILED_PERMANENT, DEAD_LETTER, DEFERRED):
        raise ValueError(f"not a closing state: {status}")
    return _move(
        connection,
        ref,
        now,
        status=status,
        attempt_in_flight=None,
        last_error=error,
        last_error_class=error_class,
    )


def hold(connection: sa.Connection, ref: tuple[int, int], *, error: str, now: datetime) -> bool:
    """The provider may have taken the in-flight attempt: hold the job, keeping the attempt's number, until
    evidence resolves it or a person replays it."""
    return _move(connection, ref, now, status=HELD, last_error=error, last_error_class="unknown")


def release(
    connection: sa.Connection,
    refs: Sequence[tuple[int, int]],
    *,
    due_at: datetime | None,
    reason: str,
    now: datetime,
) -> int:
    """Give back owned jobs whose provider was never called (lane paused, quiet hours, domain cap, end of
    run): pending again at `due_at` (None: when they were due, keeping their place), the fence moved so
    this worker can no longer touch them."""
    released = 0
    jobs = notification_jobs.c
    for chunk in _chunks(refs):
        released += connection.execute(
            sa.update(notification_jobs)
            .where(_owned(chunk), jobs.attempt_in_flight.is_(None))
            .values(
                status=PENDING,
                due_at=jobs.due_at if due_at is None else due_at,
                fence=jobs.fence + 1,
                last_error=reason,
                updated_at=now,
                **_RELEASED,
            )
        ).rowcount
    return released


def withdraw(
    connection: sa.Connection,
    started: Sequence[Started],
    *,
    due_at: datetime | None,
    reason: str,
    now: datetime,
) -> int:
    """Attempts recorded for calls that were then not made (the lane paused before their turn, the run
    ended): the attempt is removed, since it never happened, and the job released."""
    attempts, jobs = notification_attempts.c, notification_jobs.c
    withdrawn = 0
    for item in started:
        reverted = connection.execute(
            sa.update(notification_jobs)
            .where(_owned([(item.job_id, item.fence)]), jobs.attempt_in_flight == item.attempt_number)
            .values(attempt_in_flight=None, attempt_count=jobs.attempt_count - 1)
        ).rowcount
        if reverted:
            connection.execute(
                sa.delete(notification_attempts).where(
                    attempts.job_id == item.job_id,
                    attempts.attempt_number == item.attempt_number,
                    attempts.outcome.is_(None),
                )
            )
            withdrawn += release(
                connection, [(item.job_id, item.fence)], due_at=due_at, reason=reason, now=now
            )
    return withdrawn


@dataclass
class Recovery:
    requeued: int = 0  # leases that expired before the provider was called: due again
    held: int = 0  # leases that expired with an attempt in flight: outcome unknown
    resolved: dict[str, int] = field(default_factory=dict)  # what resolution made of held jobs


def recover_expired_leases(
    connection: sa.Connection,
    now: datetime,
    *,
    policies: Mapping[str, str],
    max_attempts: int,
) -> Recovery:
    """Return the jobs of workers that vanished while `sending`, in one statement that decides on the row
    itself: no attempt in flight -> `retry_scheduled` now; an attempt in flight -> `held` (its outcome is
    unknown), then resolved at once where the lane's policy and the evidence allow (`resolve_held`)."""
    jobs = notification_jobs.c
    in_flight = jobs.attempt_in_flight.is_not(None)
    rows = connection.execute(
        sa.update(notification_jobs)
        .where(jobs.status == SENDING, jobs.lease_expires_at < now)
        .values(
            status=sa.case((in_flight, HELD), else_=RETRY_SCHEDULED),
            last_error=sa.case((in_flight, LEASE_EXPIRED_UNANSWERED), else_=NEVER_SENT),
            last_error_class=sa.case((in_flight, "unknown"), else_="lease_expired"),
            due_at=now,
            fence=jobs.fence + 1,
            updated_at=now,
            **_RELEASED,
        )
        .returning(jobs.id, jobs.status, jobs.attempt_in_flight)
    ).all()
    held = [row for row in rows if row.status == HELD]
    attempts = notification_attempts.c
    for row in held:
        connection.execute(
            sa.update(notification_attempts)
            .where(
                attempts.job_id == row.id,
                attempts.attempt_number == row.attempt_in_flight,
                attempts.outcome.is_(None),
            )
            .values(outcome="unknown", finished_at=now, error_message=LEASE_EXPIRED_UNANSWERED)
        )
    recovery = Recovery(requeued=len(rows) - len(held), held=len(held))
    if held:
        recovery.resolved = resolve_held(
            connection, now, policies=policies, max_attempts=max_attempts, job_ids=[row.id for row in held]
        )
    return recovery


def resolve_held(
    connection: sa.Connection,
    now: datetime,
    *,
    policies: Mapping[str, str],
    max_attempts: int,
    job_ids: Sequence[int] | None = None,
) -> dict[str, int]:
    """Decide held jobs whose attempt outcome was unknown, from what is known now:
    - a late answer recorded on the attempt (the worker lost the job, not the answer) is followed;
    - else a provider event for the job (lanes with policy `evidence` or `resend`): one that shows the
      provider took the message makes the job `sent` (its attempt `accepted`, resolved by that event); one
      that shows it refused it, `failed_permanent`;
    - else a lane whose provider deduplicates (`resend`) sends again under the same idempotency key;
    - else the job stays held, for the evidence to arrive or a person to replay it.
    Returns counts by what became of the jobs."""
    jobs, attempts, events = notification_jobs.c, notification_attempts.c, provider_events.c
    query = (
        sa.select(
            jobs.id,
            jobs.lane,
            jobs.subscription_id,
            jobs.failures,
            attempts.attempt_number,
            attempts.outcome,
            attempts.provider_message_id,
            attempts.error_message,
        )
        .join(
            notification_attempts,
            sa.and_(attempts.job_id == jobs.id, attempts.attempt_number == jobs.attempt_in_flight),
        )
        .where(jobs.status == HELD)
    )
    if job_ids is not None:
        query = query.where(jobs.id.in_(list(job_ids)))
    held = connection.execute(query).all()
    evidence: dict[int, Any] = {}
    if held:
        ids = [row.id for row in held]
        for chunk in _chunks(ids):
            for event in connection.execute(
                sa.select(events.id, events.job_id, events.event_type, events.provider_message_id)
                .where(events.job_id.in_(chunk))
                .order_by(events.id)
            ):
                evidence.setdefault(event.job_id, event)
    counts: dict[str, int] = {}

    def moved(to: str, row: Any, **values: Any) -> None:
        done = connection.execute(
            sa.update(notification_jobs)
            .where(jobs.id == row.id, jobs.status == HELD, jobs.attempt_in_flight == row.attempt_number)
            .values(status=to, attempt_in_flight=None, fence=jobs.fence + 1, updated_at=now, **values)
        ).rowcount
        if done:
            counts[to] = counts.get(to, 0) + 1
            if to == SENT:
                mark_notified(connection, [row.subscription_id], now)

    def resolve_attempt(row: Any, outcome: str, resolved_by: str, message_id: str | None) -> None:
        connection.execute(
            sa.update(notification_attempts)
            .where(attempts.job_id == row.id, attempts.attempt_number == row.attempt_number)
            .values(outcome=outcome, provider_message_id=message_id, resolved_by=resolved_by)
        )

    for row in held:
        policy = policies.get(row.lane or "", "hold")
        event = evidence.get(row.id) if policy in ("evidence", "resend") else None
        if row.outcome == "accepted":
            moved(SENT, row, sent_at=now, provider_message_id=row.provider_message_id, last_error=None)
        elif row.outcome == "permanent":
            moved(FAILED_PERMANENT, row, last_error=row.error_message, last_error_class="permanent")
        elif row.outcome in ("transient", "rate_limited", "account"):
            moved(
                RETRY_SCHEDULED, row, due_at=now, last_error=row.error_message, last_error_class=row.outcome
            )
        elif event is not None and event.event_type in ACCEPTED_EVIDENCE:
            resolve_attempt(row, "accepted", f"provider_event:{event.id}", event.provider_message_id)
            moved(SENT, row, sent_at=now, provider_message_id=event.provider_message_id, last_error=None)
        elif event is not None and event.event_type in REFUSED_EVIDENCE:
            resolve_attempt(row, "permanent", f"provider_event:{event.id}", event.provider_message_id)
            reason = f"the provider reported the message {event.event_type}"
            moved(FAILED_PERMANENT, row, last_error=reason, last_error_class="permanent")
        elif policy == "resend" and row.failures + 1 < max_attempts:
            reason = "outcome unknown; sent again under the same idempotency key"
            moved(
                RETRY_SCHEDULED,
                row,
                due_at=now,
                failures=row.failures + 1,
                last_error=reason,
                last_error_class="unknown",
            )
        elif policy == "resend":
            moved(DEAD_LETTER, row, last_error=f"{max_attempts} attempts, the last unanswered")
        else:
            reason = AWAITING_EVIDENCE if policy == "evidence" else HELD_FOR_REVIEW
            connection.execute(
                sa.update(notification_jobs)
                .where(jobs.id == row.id, jobs.status == HELD, jobs.last_error.is_distinct_from(reason))
                .values(last_error=reason)
            )
    return counts


def replay(
    connection: sa.Connection,
    *,
    actor: str,
    now: datetime,
    reason: str,
    source: str | None = None,
    job_id: int | None = None,
    lane: str | None = None,
    error_class: str | None = None,
    restock_event_id: str | None = None,
    status: str | None = None,
    everything: bool = False,
) -> list[int]:
    """Dead-letter and held jobs back to `pending`, due now, with a fresh retry budget: one job, the jobs
    matching a filter (lane, error class, restock event, one of the two states), or all of them
    (`everything`). Written to the audit log with who, when, why and which jobs. A held job may already
    have reached its recipient: replaying it is the person's decision to resend."""
    filters = {
        "job_id": job_id,
        "lane": lane,
        "error_class": error_class,
        "restock_event_id": restock_event_id,
        "status": status,
    }
    chosen = {key: value for key, value in filters.items() if value is not None}
    if not chosen and not everything:
        raise ValueError("name a job or a filter, or ask for everything")
    if not reason.strip():
        raise ValueError("a replay needs a reason")
    if status is not None and status not in REPLAYABLE:
        raise ValueError(f"only {' and '.join(REPLAYABLE)} jobs are replayed, not {status}")
    jobs = notification_jobs.c
    where = [jobs.status.in_([status] if status else REPLAYABLE)]
    for column, value in (
        (jobs.id, job_id),
        (jobs.lane, lane),
        (jobs.last_error_class, error_class),
        (jobs.restock_event_id, restock_event_id),
    ):
        if value is not None:
            where.append(column == value)
    replayed = sorted(
        connection.execute(
            sa.update(notification_jobs)
            .where(*where)
            .values(
                status=PENDING,
                due_at=now,
                failures=0,
                rate_limited=0,
                attempt_in_flight=None,
                fence=jobs.fence + 1,
                last_error=f"replayed by {actor}: {reason.strip()}",
                last_error_class=None,
                updated_at=now,
                **_RELEASED,
            )
            .returning(jobs.id)
        ).scalars()
    )
    audit.record(
        connection,
        actor=actor,
        action="jobs.replay",
        target_type="notification_job",
        target_id=str(job_id) if job_id is not None else None,
        now=now,
        before={"filter": chosen or "everything"},
        after={"replayed": len(replayed), "job_ids": replayed},
        reason=reason.strip(),
        source=source,
    )
    return replayed


def counts_by_status(connection: sa.Connection) -> dict[str, int]:
    jobs = notification_jobs.c
    return dict(connection.execute(sa.select(jobs.status, sa.func.count()).group_by(jobs.status)).all())


def release_deferred(
    connection: sa.Connection, *, shop: str, variant_id: str, decided_at: datetime, now: datetime
) -> int:
    """A variant restocked: its jobs that dispatch deferred (sold out again at send time) before the restock
    was decided go back to `pending`, due now. They keep their priority, so they keep their place in signup
    order. Returns how many moved."""
    jobs = notification_jobs.c
    return connection.execute(
        sa.update(notification_jobs)
        .where(
            jobs.shop == shop,
            jobs.variant_id == variant_id,
            jobs.status == DEFERRED,
            jobs.updated_at < decided_at,
        )
        .values(status=PENDING, due_at=now, updated_at=now, fence=jobs.fence + 1, **_RELEASED)
    ).rowcount
