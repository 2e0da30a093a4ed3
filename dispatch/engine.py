"""Send every due job once: claim under a lease, check eligibility, render, record, send, record the answer.

The attempt row is committed before the provider is called, so a crash between the call and its answer
leaves visible evidence (an attempt without an outcome) and the job is held for review instead of resent.
Outcomes come only from the provider's answer.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from jinja2 import TemplateError

from backinstock.settings import DispatchSettings, Settings
from backinstock.store import jobs, subscriptions, suppressions
from backinstock.store.jobs import Job
from dispatch.backoff import retry_delay
from dispatch.classify import ACCEPTED, ACCOUNT, PERMANENT, RATE_LIMITED, UNKNOWN
from dispatch.eligibility import ineligibility
from dispatch.providers import EmailProvider, ProviderResult, email_provider
from dispatch.render import compose

EMAIL = "email"
LEASE_LOST = "lease_lost"


@dataclass
class DispatchReport:
    """What one run did, job by job outcome; `stopped` says why the run ended early, if it did."""

    worker_id: str
    claimed: int = 0
    sent: int = 0
    retry_scheduled: int = 0
    failed_permanent: int = 0
    dead_letter: int = 0
    skipped: int = 0
    lease_lost: int = 0
    held_for_review: int = 0  # expired leases whose outcome is unknown (see jobs.recover_expired_leases)
    requeued: int = 0  # expired leases of jobs the provider never saw
    stopped: str | None = None

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def as_metadata(self) -> dict[str, int | str]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dispatch_due(
    engine: sa.Engine,
    settings: Settings,
    now: datetime,
    *,
    worker_id: str | None = None,
    limit: int | None = None,
) -> DispatchReport:
    """Deliver up to `limit` (default `dispatch.batch_size`) due email jobs as of `now`.

    The run stops early when the provider says the account is unusable (401/403: nothing will succeed until
    a person acts) or rate-limits the lane (429: everything else would be refused too); the answered job is
    rescheduled and the rest stay due.
    """
    report = DispatchReport(worker_id=worker_id or default_worker_id())
    limit = settings.dispatch.batch_size if limit is None else limit
    with engine.begin() as connection:
        recovered = jobs.recover_expired_leases(connection, now)
    report.held_for_review, report.requeued = recovered.held_for_review, recovered.requeued
    provider = email_provider(settings.email)
    try:
        while report.claimed < limit and report.stopped is None:
            with engine.begin() as connection:
                job = jobs.claim_next(
                    connection,
                    channel=EMAIL,
                    worker_id=report.worker_id,
                    lease_seconds=settings.dispatch.lease_seconds,
                    now=now,
                )
            if job is None:
                break
            report.claimed += 1
            status, report.stopped = deliver(engine, settings, provider, job, report.worker_id, now)
            report.count(status)
    finally:
        provider.close()
    return report


def deliver(
    engine: sa.Engine, settings: Settings, provider: EmailProvider, job: Job, worker_id: str, now: datetime
) -> tuple[str, str | None]:
    """Take one leased job to its next state; returns that state and, when the lane must stop, why."""
    with engine.begin() as connection:
        reason = ineligibility(connection, job)
        if reason is not None:
            return _closed(connection, job, worker_id, jobs.SKIPPED, reason, now), None
        try:
            message = compose(connection, settings, job)
        except TemplateError as error:
            # Not the recipient's fault and not worth retrying until a person fixes the template.
            error_text = f"template error: {error}"
            return _closed(connection, job, worker_id, jobs.DEAD_LETTER, error_text, now), None
        attempt_id = jobs.start_attempt(connection, job, worker_id=worker_id, provider=provider.name, now=now)
    if attempt_id is None:
        return LEASE_LOST, None
    result = provider.send(message, now)
    with engine.begin() as connection:
        jobs.finish_attempt(
            connection,
            attempt_id,
            status_code=result.status_code,
            outcome=result.outcome,
            provider_message_id=result.provider_message_id,
            error=result.error,
            retry_after_seconds=result.retry_after_seconds,
            latency_ms=result.latency_ms,
            finished_at=now + timedelta(milliseconds=result.latency_ms),
        )
        return settle(connection, settings.dispatch, provider.name, job, worker_id, result, now)


def _closed(
    connection: sa.Connection, job: Job, worker_id: str, status: str, error: str, now: datetime
) -> str:
    closed = jobs.close_job(connection, job, worker_id=worker_id, status=status, error=error, now=now)
    return status if closed else LEASE_LOST


def settle(
    connection: sa.Connection,
    policy: DispatchSettings,
    provider_name: str,
    job: Job,
    worker_id: str,
    result: ProviderResult,
    now: datetime,
) -> tuple[str, str | None]:
    """Move the job according to the provider's classified answer."""
    if result.outcome == ACCEPTED:
        subscriptions.mark_notified(connection, job.subscription_id, now)
        sent = jobs.mark_sent(
            connection, job, worker_id=worker_id, provider_message_id=result.provider_message_id, now=now
        )
        return (jobs.SENT if sent else LEASE_LOST), None
    error = result.error or result.outcome
    if result.outcome == UNKNOWN and result.status_code is None:
        # Sent, never answered: the provider may have accepted it. No idempotency key exists, so a retry
        # could notify twice; a person decides (replay) instead.
        return _closed(connection, job, worker_id, jobs.DEAD_LETTER, f"{jobs.UNANSWERED}: {error}", now), None
    if result.outcome == PERMANENT:
        if result.recipient_rejected:
            suppressions.suppress(
                connection,
                shop=job.shop,
                channel=job.channel,
                contact=job.contact,
                reason=suppressions.INVALID_ADDRESS,
                source=f"{provider_name} {result.status_code}",
                now=now,
            )
        return _closed(connection, job, worker_id, jobs.FAILED_PERMANENT, error, now), None
    if result.outcome == ACCOUNT:
        # Due again at once: the job is fine, the account is not; the run stops until a person acts.
        retried = jobs.schedule_retry(connection, job, worker_id=worker_id, due_at=now, error=error, now=now)
        return (jobs.RETRY_SCHEDULED if retried else LEASE_LOST), f"provider account refused: {error}"
    failures = jobs.retryable_failures(connection, job.id)
    if failures >= policy.max_attempts:
        return _closed(
            connection, job, worker_id, jobs.DEAD_LETTER, f"{failures} attempts: {error}", now
        ), None
    delay = retry_delay(
        failures,
        base_seconds=policy.backoff_base_seconds,
        cap_seconds=policy.backoff_cap_seconds,
        hint_seconds=result.retry_after_seconds,
    )
    due_at = now + timedelta(seconds=delay)
    retried = jobs.schedule_retry(connection, job, worker_id=worker_id, due_at=due_at, error=error, now=now)
    stop = f"rate limited until {due_at.isoformat()}" if result.outcome == RATE_LIMITED else None
    return (jobs.RETRY_SCHEDULED if retried else LEASE_LOST), stop
