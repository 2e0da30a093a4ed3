"""The outbox: messages that are not alerts (the double opt-in confirmation), written by the storefront in the
signup's transaction and sent by the delivery engine through its lanes, so a web request never waits on a
provider and a message is never lost between the two.

States: pending -> sending -> sent; sending -> pending (a retryable failure, due again later) | failed
(permanent, or out of attempts); pending -> cancelled (its subscription was confirmed, cancelled or
purged before it went out). A claim is a compare-and-set under a lease, as for jobs. A lease that expired
mid-call returns the message to the queue: a confirmation sent twice is harmless, one never sent leaves a
person unable to confirm; after MAX_ATTEMPTS claims it fails for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import outbox_messages

CONFIRMATION = "confirmation"
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
MAX_ATTEMPTS = 5
LOST_LEASE = "lease expired while the provider was being called"
# Built once: every signup that asks for a confirmation, and every unsubscribe, runs one of them.
_ENQUEUE = sa.insert(outbox_messages).returning(outbox_messages.c.id)
_LAST_CREATED = sa.select(sa.func.max(outbox_messages.c.created_at)).where(
    outbox_messages.c.subscription_id == sa.bindparam("subscription_id"),
    outbox_messages.c.kind == sa.bindparam("kind"),
)
# (An UPDATE's parameters may not be named like its table's columns.)
_CANCEL_FOR_CONTACT = (
    sa.update(outbox_messages)
    .where(
        outbox_messages.c.shop == sa.bindparam("of_shop"),
        outbox_messages.c.channel == sa.bindparam("of_channel"),
        outbox_messages.c.contact == sa.bindparam("of_contact"),
        outbox_messages.c.status == PENDING,
        outbox_messages.c.created_at <= sa.bindparam("now"),
    )
    .values(status=CANCELLED, last_error=sa.bindparam("reason"), updated_at=sa.bindparam("now"))
)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    shop: str
    kind: str
    channel: str
    contact: str
    locale: str
    subscription_id: int | None
    attempt_count: int


def new_message(
    *, shop: Any, kind: Any, channel: Any, contact: Any, locale: Any, subscription_id: Any, now: Any
) -> dict[str, Any]:
    """A new message's row, due at once. The values may be SQL expressions, for a message written by the
    statement that makes its subscription (`subscriptions.subscribe` on PostgreSQL)."""
    return {
        "shop": shop,
        "kind": kind,
        "channel": channel,
        "contact": contact,
        "locale": locale,
        "subscription_id": subscription_id,
        "status": PENDING,
        "due_at": now,
        "attempt_count": 0,
        "created_at": now,
        "updated_at": now,
    }


def enqueue(
    connection: sa.Connection,
    *,
    shop: str,
    kind: str,
    channel: str,
    contact: str,
    locale: str,
    subscription_id: int | None,
    now: datetime,
) -> int:
    """A message due now; its id."""
    row = new_message(
        shop=shop, kind=kind, channel=channel, contact=contact, locale=locale,
        subscription_id=subscription_id, now=now,
    )  # fmt: skip
    return connection.execute(_ENQUEUE, row).scalar_one()


def last_created_at(connection: sa.Connection, subscription_id: int, kind: str) -> datetime | None:
    """When the latest message of this kind for the subscription was written (to pace resends)."""
    return connection.execute(_LAST_CREATED, {"subscription_id": subscription_id, "kind": kind}).scalar_one()


def claim_due(
    connection: sa.Connection,
    *,
    channel: str,
    worker_id: str,
    lease_seconds: int,
    now: datetime,
    limit: int,
    shops: Sequence[str] | None = None,
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages of the channel (of `shops`, when given), oldest first; messages
    another worker won meanwhile are skipped."""
    box = outbox_messages.c
    only = [box.shop.in_(list(shops))] if shops else []
    candidates = connection.execute(
        sa.select(box.id)
        .where(box.status == PENDING, box.channel == channel, box.due_at <= now, *only)
        .order_by(box.due_at, box.id)
        .limit(limit)
    ).scalars()
    claimed = []
    for message_id in list(candidates):
        won = connection.execute(
            sa.update(outbox_messages)
            .where(box.id == message_id, box.status == PENDING)
            .values(
                status=SENDING,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempt_count=box.attempt_count + 1,
                updated_at=now,
            )
        ).rowcount
        if won == 1:
            row = connection.execute(sa.select(outbox_messages).where(box.id == message_id)).one()
            claimed.append(
                OutboxMessage(
                    id=row.id,
                    shop=row.shop,
                    kind=row.kind,
                    channel=row.channel,
                    contact=row.contact,
                    locale=row.locale,
                    subscription_id=row.subscription_id,
                    attempt_count=row.attempt_count,
                )
            )
    return claimed


def _settle(
    connection: sa.Connection, message: OutboxMessage, worker_id: str, now: datetime, **values: object
) -> bool:
    box = outbox_messages.c
    return (
        connection.execute(
            sa.update(outbox_messages)
            .where(box.id == message.id, box.status == SENDING, box.lease_owner == worker_id)
            .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
        ).rowcount
        == 1
    )


def mark_sent(
    connection: sa.Connection,
    message: OutboxMessage,
    *,
    worker_id: str,
    provider_message_id: str | None,
    now: datetime,
) -> bool:
    return _settle(
        connection, message, worker_id, now, status=SENT, sent_at=now, provider_message_id=provider_message_id
    )


def retry_later(
    connection: sa.Connection,
    message: OutboxMessage,
    *,
    worker_id: str,
    due_at: datetime,
    error: str,
    now: datetime,
) -> bool:
    return _settle(connection, message, worker_id, now, status=PENDING, due_at=due_at, last_error=error)


def fail(
    connection: sa.Connection, message: OutboxMessage, *, worker_id: str, error: str, now: datetime
) -> bool:
    return _settle(connection, message, worker_id, now, status=FAILED, last_error=error)


def cancel(
    connection: sa.Connection, message: OutboxMessage, *, worker_id: str, reason: str, now: datetime
) -> bool:
    """The message must not go out any more (its subscription is no longer waiting for it)."""
    return _settle(connection, message, worker_id, now, status=CANCELLED, last_error=reason)


def cancel_pending_for_contact(
    connection: sa.Connection, *, shop: str, channel: str, contact: str, reason: str, now: datetime
) -> int:
    """Cancel the contact's unsent messages written by `now` (a later one belongs to a newer signup)."""
    return connection.execute(
        _CANCEL_FOR_CONTACT,
        {"of_shop": shop, "of_channel": channel, "of_contact": contact, "reason": reason, "now": now},
    ).rowcount


def recover_expired_leases(connection: sa.Connection, now: datetime) -> int:
    """Messages whose sender vanished mid-call: due again, or failed after MAX_ATTEMPTS claims."""
    box = outbox_messages.c
    return connection.execute(
        sa.update(outbox_messages)
        .where(box.status == SENDING, box.lease_expires_at < now)
        .values(
            status=sa.case((box.attempt_count >= MAX_ATTEMPTS, FAILED), else_=PENDING),
            due_at=now,
            last_error=LOST_LEASE,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    ).rowcount
