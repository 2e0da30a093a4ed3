"""Outbox messages (double opt-in confirmations) sent through a lane, before its alerts (contract 7).

The storefront writes the outbox row in the signup's transaction and defines the message
(`backinstock.consent.confirmation_message`); here a lane's feeder claims the due messages of its channel and
shops, sends them through the lane's provider at the lane's shared pace, and records the answer. A message
whose subscription no longer waits for it is cancelled unsent; a retryable answer comes back later with
backoff (after `outbox.MAX_ATTEMPTS` it fails); a permanent one fails it (and suppresses an address the
provider says is bad); a rate limit or an account refusal acts on the lane as for alerts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from backinstock.consent import confirmation_message
from backinstock.store import lanes, outbox, suppressions
from dispatch import classify
from dispatch.backoff import retry_delay
from dispatch.providers import Message, ProviderResult

if TYPE_CHECKING:
    from dispatch.worker import LaneRunner


def idempotency_key(message: outbox.OutboxMessage) -> str:
    return f"backinstock-outbox-{message.id}"


async def send_due(runner: LaneRunner) -> int:
    """Send the lane's due outbox messages; returns how many the provider accepted."""
    worker, lane = runner.worker, runner.lane
    now = worker.now()
    claimed = await worker.db(lambda connection: _claim(connection, runner, now))
    accepted = 0
    for index, message in enumerate(claimed):
        if runner.stopped or runner._locally_paused(worker.now()):
            await worker.db(lambda connection, rest=claimed[index:]: _give_back(connection, runner, rest))
            break
        composed = await worker.db(
            lambda connection, message=message: confirmation_message(
                connection, worker.settings, message, worker.now()
            )
        )
        if composed is None:
            await worker.db(
                lambda connection, message=message: outbox.cancel(
                    connection,
                    message,
                    worker_id=worker.worker_id,
                    reason="no longer awaited",
                    now=worker.now(),
                )
            )
            continue
        if lane.rate_per_second:
            first = await worker.db(
                lambda connection: lanes.reserve_slots(
                    connection,
                    lane.name,
                    count=1,
                    rate=lane.rate_per_second,
                    burst=lane.burst,
                    now=worker.now(),
                )
            )
            if first is None or not await worker.wait_until(
                datetime.fromtimestamp(first, worker.now().tzinfo)
            ):
                await worker.db(lambda connection, rest=claimed[index:]: _give_back(connection, runner, rest))
                break
        result = await _send(runner, message, composed)
        accepted += await worker.db(
            lambda connection, message=message, result=result: _settle(connection, runner, message, result)
        )
    return accepted


def _claim(connection: sa.Connection, runner: LaneRunner, now: datetime) -> list[outbox.OutboxMessage]:
    if not lanes.open_at(lanes.get_lane(connection, runner.lane.name) or {}, now):
        return []
    outbox.recover_expired_leases(connection, now)
    return outbox.claim_due(
        connection,
        channel=runner.lane.channel,
        worker_id=runner.worker.worker_id,
        lease_seconds=runner.worker.policy.lease_seconds,
        now=now,
        limit=runner.worker.policy.batch_size,
        shops=runner.lane.shops,
    )


def _give_back(connection: sa.Connection, runner: LaneRunner, rest: list[outbox.OutboxMessage]) -> None:
    now = runner.worker.now()
    for message in rest:
        outbox.retry_later(
            connection,
            message,
            worker_id=runner.worker.worker_id,
            due_at=now,
            error="the lane paused",
            now=now,
        )


async def _send(runner: LaneRunner, message: outbox.OutboxMessage, composed) -> ProviderResult:
    worker, lane = runner.worker, runner.lane
    try:
        return await runner.provider.send(
            Message(
                job_id=0,
                channel=message.channel,
                to=composed.to,
                subject=composed.subject,
                text=composed.text,
                html=composed.html or "",
                from_email=lane.from_email or worker.settings.email.from_email,
                from_name=lane.from_name or worker.settings.email.from_name,
                tags=composed.custom_args,
                idempotency_key=idempotency_key(message),
            ),
            worker.now(),
        )
    except (
        Exception
    ) as error:  # a provider bug: the message may have gone; a duplicate confirmation is harmless
        return ProviderResult(classify.UNKNOWN, error=f"provider raised {error!r}")


def _settle(
    connection: sa.Connection, runner: LaneRunner, message: outbox.OutboxMessage, result: ProviderResult
) -> int:
    worker = runner.worker
    now = worker.now()
    owner = {"worker_id": worker.worker_id, "now": now}
    if result.outcome == classify.ACCEPTED:
        return int(
            outbox.mark_sent(connection, message, provider_message_id=result.provider_message_id, **owner)
        )
    error = result.error or result.outcome
    if result.outcome == classify.PERMANENT or message.attempt_count >= outbox.MAX_ATTEMPTS:
        if result.suppress:
            suppressions.suppress(
                connection,
                shop=message.shop,
                channel=message.channel,
                contact=message.contact,
                reason=result.suppress,
                source=f"{runner.provider.name} {result.status_code}",
                now=now,
            )
        outbox.fail(connection, message, error=error, **owner)
        return 0
    if result.outcome == classify.RATE_LIMITED:
        wait = runner._hint(result)
        runner.paused_until = max(runner.paused_until or now, now + timedelta(seconds=wait))
    elif result.outcome == classify.ACCOUNT:
        runner.stopped = True
        wait = 0.0
    else:
        wait = retry_delay(
            message.attempt_count,
            base_seconds=worker.policy.backoff_base_seconds,
            cap_seconds=worker.policy.backoff_cap_seconds,
            hint_seconds=result.retry_after_seconds,
        )
    outbox.retry_later(connection, message, due_at=now + timedelta(seconds=wait), error=error, **owner)
    return 0
