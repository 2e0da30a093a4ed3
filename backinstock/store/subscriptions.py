"""Subscriptions: a contact's request to hear when one variant is back, with proof of consent.

One active subscription per shop, variant, channel and contact (a partial unique index enforces it), so a
repeated signup is answered with the existing one. Unsubscribing cancels every active alert of the contact at
the shop and suppresses the contact; a later explicit signup is fresh consent and lifts that suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.suppressions import UNSUBSCRIBED, lift_unsubscribed, suppress
from backinstock.store.tables import subscriptions

ACTIVE = "active"
NOTIFIED = "notified"
UNSUBSCRIBED_STATUS = "unsubscribed"


@dataclass(frozen=True)
class Consent:
    """Proof of consent (GDPR Art. 7(1)): the text shown, how and where it was given, by whom."""

    text: str
    method: str
    source: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Signup:
    subscription_id: int
    status: str
    created: bool  # False: the contact already had an active alert for the variant


def normalise_contact(channel: str, contact: str) -> str:
    """Emails are compared trimmed and lower-cased; other channels' contacts only trimmed."""
    contact = contact.strip()
    return contact.lower() if channel == "email" else contact


def _active(shop: str, variant_id: str, channel: str, contact: str) -> sa.Select:
    return sa.select(subscriptions.c.id, subscriptions.c.status).where(
        subscriptions.c.shop == shop,
        subscriptions.c.variant_id == variant_id,
        subscriptions.c.channel == channel,
        subscriptions.c.contact == contact,
        subscriptions.c.status == ACTIVE,
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
    now: datetime,
) -> Signup:
    """Create the subscription, or return the active one; idempotent under concurrent signups."""
    contact = normalise_contact(channel, contact)
    lift_unsubscribed(connection, shop=shop, channel=channel, contact=contact)
    row = {
        "shop": shop,
        "variant_id": variant_id,
        "product_id": product_id,
        "channel": channel,
        "contact": contact,
        "locale": locale,
        "status": ACTIVE,
        "client_id": client_id,
        "created_at": now,
        "updated_at": now,
        "consent_text": consent.text,
        "consent_method": consent.method,
        "consent_source": consent.source,
        "consent_at": now,
        "consent_ip": consent.ip,
        "consent_user_agent": consent.user_agent,
    }
    inserted = insert_ignoring_conflicts(
        connection,
        subscriptions,
        [row],
        ("shop", "variant_id", "channel", "contact"),
        # The partial index's own predicate, as a literal: PostgreSQL cannot infer it from a bound parameter.
        index_where=sa.text(f"status = '{ACTIVE}'"),
    )
    existing = connection.execute(_active(shop, variant_id, channel, contact)).one()
    return Signup(subscription_id=existing.id, status=existing.status, created=inserted == 1)


def get_subscription(connection: sa.Connection, subscription_id: int) -> dict[str, Any] | None:
    row = connection.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id)).first()
    return None if row is None else dict(row._mapping)


def unsubscribe_contact(
    connection: sa.Connection, *, shop: str, channel: str, contact: str, source: str | None, now: datetime
) -> int:
    """Cancel every active alert of the contact at the shop and suppress it; returns alerts cancelled."""
    contact = normalise_contact(channel, contact)
    cancelled = connection.execute(
        sa.update(subscriptions)
        .where(
            subscriptions.c.shop == shop,
            subscriptions.c.channel == channel,
            subscriptions.c.contact == contact,
            subscriptions.c.status == ACTIVE,
        )
        .values(status=UNSUBSCRIBED_STATUS, unsubscribed_at=now, updated_at=now)
    ).rowcount
    suppress(
        connection, shop=shop, channel=channel, contact=contact, reason=UNSUBSCRIBED, source=source, now=now
    )
    return cancelled


def mark_notified(connection: sa.Connection, subscription_ids: Sequence[int], now: datetime) -> None:
    """The provider accepted these subscriptions' notifications: they have been answered."""
    if subscription_ids:
        connection.execute(
            sa.update(subscriptions)
            .where(subscriptions.c.id.in_(list(subscription_ids)), subscriptions.c.status == ACTIVE)
            .values(status=NOTIFIED, notified_at=now, updated_at=now)
        )
