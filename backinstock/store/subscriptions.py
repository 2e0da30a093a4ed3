"""Subscriptions: a contact's request to hear when one variant is back, with proof of consent.

States: `pending` (double opt-in: waiting for the person's confirmation until `confirm_by`) -> `active`
(confirmed, waiting for a restock) -> `notified`; `pending | active -> unsubscribed`. An expired pending
subscription is deleted (it never counted). One live (pending or active) subscription per shop, variant,
channel and contact (a partial unique index enforces it), so a repeated signup is answered with the existing
one. Unsubscribing cancels every live alert of the contact at the shop and suppresses the contact. A signup
never lifts a suppression: only the person's own confirmation lifts an `unsubscribed` one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from backinstock.store import outbox
from backinstock.store.sql import ignoring_conflicts
from backinstock.store.suppressions import UNSUBSCRIBED, lift_unsubscribed, suppress
from backinstock.store.tables import (
    LIVE_SUBSCRIPTION,
    UTCDateTime,
    catalog_variants,
    outbox_messages,
    subscriptions,
    suppressions,
)

PENDING = "pending"
ACTIVE = "active"
NOTIFIED = "notified"
UNSUBSCRIBED_STATUS = "unsubscribed"
LIVE = (PENDING, ACTIVE)


@dataclass(frozen=True)
class Consent:
    """Proof of consent (GDPR Art. 7(1)): the text shown, how and where it was given, by whom."""

    text: str
    method: str
    source: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    version_id: int | None = None  # the server-side consent text shown (consent_texts.id)


@dataclass(frozen=True)
class Signup:
    subscription_id: int
    status: str
    created: bool  # False: the contact already had a live alert for the variant


def normalise_contact(channel: str, contact: str) -> str:
    """Emails are compared trimmed and lower-cased; other channels' contacts only trimmed."""
    contact = contact.strip()
    return contact.lower() if channel == "email" else contact


# Built once: the hot path of every signup and unsubscribe executes them without building them again.
_LIVE = sa.select(subscriptions.c.id, subscriptions.c.status, subscriptions.c.confirm_by).where(
    subscriptions.c.shop == sa.bindparam("shop"),
    subscriptions.c.variant_id == sa.bindparam("variant_id"),
    subscriptions.c.channel == sa.bindparam("channel"),
    subscriptions.c.contact == sa.bindparam("contact"),
    subscriptions.c.status.in_(LIVE),
)
_BY_ID = sa.select(subscriptions).where(subscriptions.c.id == sa.bindparam("id"))
# (An UPDATE's parameters may not be named like its table's columns.)
_OF_CONTACT = (
    subscriptions.c.shop == sa.bindparam("of_shop"),
    subscriptions.c.channel == sa.bindparam("of_channel"),
    subscriptions.c.contact == sa.bindparam("of_contact"),
)
_ASKED_AT = sa.func.coalesce(subscriptions.c.confirmed_at, subscriptions.c.created_at)
_UNSUBSCRIBE_CONTACT = (
    sa.update(subscriptions)
    .where(
        *_OF_CONTACT, subscriptions.c.status.in_(LIVE), sa.bindparam("now", type_=UTCDateTime) >= _ASKED_AT
    )
    .values(status=UNSUBSCRIBED_STATUS, unsubscribed_at=sa.bindparam("now"), updated_at=sa.bindparam("now"))
)
_CONSENTED_SINCE = sa.select(
    sa.exists().where(*_OF_CONTACT, subscriptions.c.confirmed_at > sa.bindparam("now"))
)


def subscribe(
    connection: sa.Connection,
    *,
    shop: str,
    variant_id: str,
    product_id: str,
    channel: str,
    contact: str,
    locale: str,
    client_id: str | None,
    consent: Consent,
    confirm_by: datetime | None = None,
    confirmation: bool = False,
    now: datetime,
) -> Signup:
    """Create the subscription, or return the live one; idempotent under concurrent signups.

    With `confirm_by` the new subscription is `pending` until the person confirms (double opt-in), else it
    is `active` at once; with `confirmation` too, a new pending subscription's confirmation is written to
    the outbox with it (on PostgreSQL in the same statement: one round trip less). A pending subscription
    for the same alert that expired unconfirmed is deleted and the signup made anew (expired ones nobody
    asks for again are purged by the cycle's retention).
    """
    contact = normalise_contact(channel, contact)
    key = {"shop": shop, "variant_id": variant_id, "channel": channel, "contact": contact}
    status = PENDING if confirm_by is not None else ACTIVE
    row = {
        **key,
        "product_id": product_id,
        "locale": locale,
        "status": status,
        "client_id": client_id,
        "created_at": now,
        "updated_at": now,
        "confirm_by": confirm_by,
        "confirmed_at": None if confirm_by is not None else now,
        "consent_text": consent.text,
        "consent_method": consent.method,
        "consent_source": consent.source,
        "consent_at": now,
        "consent_ip": consent.ip,
        "consent_user_agent": consent.user_agent,
        "consent_version_id": consent.version_id,
    }
    new = {f"new_{name}": value for name, value in row.items()}
    dialect = connection.dialect.name
    together = confirmation and status == PENDING and dialect == "postgresql"
    insert = _insert_new(dialect, together)
    for _attempt in range(3):  # a second try only follows an alert that ended meanwhile
        inserted = connection.execute(insert, new).scalar()
        if inserted is not None:
            if confirmation and status == PENDING and not together:
                outbox.enqueue(
                    connection,
                    shop=shop,
                    kind=outbox.CONFIRMATION,
                    channel=channel,
                    contact=contact,
                    locale=locale,
                    subscription_id=inserted,
                    now=now,
                )
            return Signup(subscription_id=inserted, status=status, created=True)
        existing = connection.execute(_LIVE, key).first()
        if existing is None:  # ended between the two statements: the alert is free again
            continue
        if existing.status == PENDING and existing.confirm_by is not None and existing.confirm_by <= now:
            purge_expired_pending(connection, now, _key(**key))
            continue
        return Signup(subscription_id=existing.id, status=existing.status, created=False)
    raise RuntimeError("the live subscription kept changing under the signup")


# A new subscription's values, bound as `new_<column>` (an INSERT's parameters may not be named like its
# table's columns when its values are given, as the confirmation below needs them).
_NEW = {
    column.name: sa.bindparam(f"new_{column.name}", type_=column.type)
    for column in subscriptions.c
    if column.name not in ("id", "unsubscribed_at", "notified_at", "confirmed_ip", "confirmed_user_agent")
}


@cache
def _insert_new(dialect: str, with_confirmation: bool) -> sa.Insert:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING id` of a new subscription; with the confirmation, one
    PostgreSQL statement that also writes its outbox row when (and only when) the subscription was new."""
    # The partial index's own predicate, as a literal: PostgreSQL cannot infer it from a bound parameter.
    insert = ignoring_conflicts(dialect, subscriptions, _KEY, index_where=LIVE_SUBSCRIPTION).values(_NEW)
    if not with_confirmation:
        return insert
    new = insert.cte("new_subscription")
    message = outbox.new_message(
        shop=_NEW["shop"], kind=outbox.CONFIRMATION, channel=_NEW["channel"], contact=_NEW["contact"],
        locale=_NEW["locale"], subscription_id=new.c.id, now=_NEW["created_at"],
    )  # fmt: skip
    selected = [
        value if isinstance(value, sa.ColumnElement) else sa.literal(value) for value in message.values()
    ]
    return (
        sa.insert(outbox_messages)
        .from_select(list(message), sa.select(*selected).select_from(new))
        .returning(outbox_messages.c.subscription_id)
        .add_cte(new)
    )


_KEY = ("shop", "variant_id", "channel", "contact")


def _key(shop: str, variant_id: str, channel: str, contact: str) -> list[sa.ColumnElement[bool]]:
    return [
        subscriptions.c.shop == shop,
        subscriptions.c.variant_id == variant_id,
        subscriptions.c.channel == channel,
        subscriptions.c.contact == contact,
    ]


CONFIRMED = "confirmed"
ALREADY_CONFIRMED = "already_confirmed"
EXPIRED = "expired"
GONE = "gone"


def confirm(
    connection: sa.Connection,
    subscription_id: int,
    *,
    shop: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> str:
    """The person's own confirmation (double opt-in): `pending` becomes `active` and, being fresh consent
    from the person, lifts an `unsubscribed` suppression of the contact. Answers what happened: confirmed,
    already_confirmed, expired (past confirm_by: sign up again) or gone (cancelled, or no such alert)."""
    row = connection.execute(
        sa.select(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.shop == shop)
    ).first()
    if row is None or row.status == UNSUBSCRIBED_STATUS:
        return GONE
    if row.status in (ACTIVE, NOTIFIED):
        return ALREADY_CONFIRMED
    if row.confirm_by is not None and now >= row.confirm_by:
        return EXPIRED
    confirmed = connection.execute(
        sa.update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.status == PENDING)
        .values(
            status=ACTIVE,
            confirmed_at=now,
            confirmed_ip=ip,
            confirmed_user_agent=user_agent,
            updated_at=now,
        )
    ).rowcount
    if confirmed != 1:  # confirmed or cancelled meanwhile
        return confirm(connection, subscription_id, shop=shop, ip=ip, user_agent=user_agent, now=now)
    lift_unsubscribed(connection, shop=row.shop, channel=row.channel, contact=row.contact)
    return CONFIRMED


def purge_expired_pending(
    connection: sa.Connection, now: datetime, where: list[sa.ColumnElement[bool]] | None = None
) -> int:
    """Delete pending subscriptions past their confirm_by (and their unsent confirmations); they never
    counted as signups. Returns how many were deleted."""
    expired = sa.select(subscriptions.c.id).where(
        subscriptions.c.status == PENDING, subscriptions.c.confirm_by <= now, *(where or [])
    )
    ids = list(connection.execute(expired).scalars())
    if not ids:
        return 0
    connection.execute(sa.delete(outbox_messages).where(outbox_messages.c.subscription_id.in_(ids)))
    return connection.execute(
        sa.delete(subscriptions).where(subscriptions.c.id.in_(ids), subscriptions.c.status == PENDING)
    ).rowcount


def get_subscription(connection: sa.Connection, subscription_id: int) -> dict[str, Any] | None:
    row = connection.execute(_BY_ID, {"id": subscription_id}).first()
    return None if row is None else dict(row._mapping)


def unsubscribe_contact(
    connection: sa.Connection, *, shop: str, channel: str, contact: str, source: str | None, now: datetime
) -> int:
    """Cancel every live alert (pending or active) of the contact at the shop that the person had asked for
    by `now`, and suppress the contact; returns alerts cancelled.

    `now` is when the person unsubscribed, which may be earlier than when it is applied (a spooled
    unsubscribe). Consent the person gave after that instant (a newer confirmed alert) is theirs and stays:
    it is not cancelled and the contact is not suppressed again."""
    contact = normalise_contact(channel, contact)
    of_contact = {"of_shop": shop, "of_channel": channel, "of_contact": contact, "now": now}
    cancelled = connection.execute(_UNSUBSCRIBE_CONTACT, of_contact).rowcount
    consented_since = connection.execute(_CONSENTED_SINCE, of_contact).scalar_one()
    if not consented_since:
        suppress(
            connection,
            shop=shop,
            channel=channel,
            contact=contact,
            reason=UNSUBSCRIBED,
            source=source,
            now=now,
        )
    outbox.cancel_pending_for_contact(
        connection, shop=shop, channel=channel, contact=contact, reason="unsubscribed", now=now
    )
    return cancelled


def unsubscribe_subscriber(
    connection: sa.Connection, *, shop: str, subscription_id: int, source: str | None, now: datetime
) -> bool:
    """`unsubscribe_contact` for the contact of the shop's subscription `subscription_id` (what a signed
    unsubscribe link names); False when the shop has no such subscription (nothing is done). On PostgreSQL
    the read and the four writes are one statement: one round trip instead of five."""
    if connection.dialect.name == "postgresql":
        asked = {"asked_id": subscription_id, "asked_shop": shop, "source": source, "now": now}
        return connection.execute(_UNSUBSCRIBE_SUBSCRIBER, asked).scalar_one() > 0
    subscription = get_subscription(connection, subscription_id)
    if subscription is None or subscription["shop"] != shop:
        return False
    unsubscribe_contact(
        connection,
        shop=shop,
        channel=subscription["channel"],
        contact=subscription["contact"],
        source=source,
        now=now,
    )
    return True


def _unsubscribe_subscriber() -> sa.Select:
    """`unsubscribe_subscriber` as one PostgreSQL statement. Its parts see one snapshot: the check for
    consent given after `now` reads `confirmed_at`, which the cancelling part does not change, so it
    answers as it did after the cancelling statement."""
    now = sa.bindparam("now", type_=UTCDateTime)
    asked = (
        sa.select(subscriptions.c.shop, subscriptions.c.channel, subscriptions.c.contact)
        .where(
            subscriptions.c.id == sa.bindparam("asked_id"), subscriptions.c.shop == sa.bindparam("asked_shop")
        )
        .cte("asked")
    )

    def of_contact(table: sa.Table) -> tuple[sa.ColumnElement[bool], ...]:
        return (
            table.c.shop == asked.c.shop,
            table.c.channel == asked.c.channel,
            table.c.contact == asked.c.contact,
        )

    cancelled = (
        sa.update(subscriptions)
        .where(*of_contact(subscriptions), subscriptions.c.status.in_(LIVE), now >= _ASKED_AT)
        .values(status=UNSUBSCRIBED_STATUS, unsubscribed_at=now, updated_at=now)
        .cte("cancelled")
    )
    consented_since = sa.exists().where(*of_contact(subscriptions), subscriptions.c.confirmed_at > now)
    suppressed = (
        postgresql.insert(suppressions)
        .from_select(
            ["shop", "channel", "contact", "reason", "source", "created_at"],
            sa.select(
                asked.c.shop,
                asked.c.channel,
                asked.c.contact,
                sa.literal(UNSUBSCRIBED),
                sa.bindparam("source"),
                now,
            ).where(~consented_since),
        )
        .on_conflict_do_nothing(index_elements=["shop", "channel", "contact"])
        .cte("suppressed")
    )
    box = outbox_messages.c
    messages = (
        sa.update(outbox_messages)
        .where(*of_contact(outbox_messages), box.status == outbox.PENDING, box.created_at <= now)
        .values(status=outbox.CANCELLED, last_error=UNSUBSCRIBED, updated_at=now)
        .cte("cancelled_messages")
    )
    return sa.select(sa.func.count()).select_from(asked).add_cte(cancelled, suppressed, messages)


_UNSUBSCRIBE_SUBSCRIBER = _unsubscribe_subscriber()


def alerts_of_contact(
    connection: sa.Connection, *, shop: str, channel: str, contact: str
) -> list[dict[str, Any]]:
    """The contact's live alerts at the shop (pending and active), newest first, with what they are for."""
    rows = connection.execute(
        sa.select(
            subscriptions.c.id,
            subscriptions.c.status,
            subscriptions.c.variant_id,
            subscriptions.c.created_at,
            catalog_variants.c.product_title,
            catalog_variants.c.variant_title,
        )
        .select_from(
            subscriptions.outerjoin(
                catalog_variants,
                sa.and_(
                    catalog_variants.c.shop == subscriptions.c.shop,
                    catalog_variants.c.variant_id == subscriptions.c.variant_id,
                ),
            )
        )
        .where(
            subscriptions.c.shop == shop,
            subscriptions.c.channel == channel,
            subscriptions.c.contact == contact,
            subscriptions.c.status.in_(LIVE),
        )
        .order_by(subscriptions.c.id.desc())
    )
    return [dict(row._mapping) for row in rows]


def cancel_alert(
    connection: sa.Connection, subscription_id: int, *, shop: str, channel: str, contact: str, now: datetime
) -> bool:
    """Cancel one live alert of the contact (the others stay; nothing is suppressed). True when cancelled."""
    cancelled = connection.execute(
        sa.update(subscriptions)
        .where(
            subscriptions.c.id == subscription_id,
            subscriptions.c.shop == shop,
            subscriptions.c.channel == channel,
            subscriptions.c.contact == contact,
            subscriptions.c.status.in_(LIVE),
        )
        .values(status=UNSUBSCRIBED_STATUS, unsubscribed_at=now, updated_at=now)
    ).rowcount
    if cancelled:
        connection.execute(
            sa.update(outbox_messages)
            .where(
                outbox_messages.c.subscription_id == subscription_id,
                outbox_messages.c.status == outbox.PENDING,
            )
            .values(status=outbox.CANCELLED, last_error="alert cancelled", updated_at=now)
        )
    return cancelled == 1


def mark_notified(connection: sa.Connection, subscription_ids: Sequence[int], now: datetime) -> None:
    """The provider accepted these subscriptions' notifications: they have been answered."""
    if subscription_ids:
        connection.execute(
            sa.update(subscriptions)
            .where(subscriptions.c.id.in_(list(subscription_ids)), subscriptions.c.status == ACTIVE)
            .values(status=NOTIFIED, notified_at=now, updated_at=now)
        )
