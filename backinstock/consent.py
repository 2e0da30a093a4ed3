"""Consent that holds: who may be signed up, when a signup needs the person's confirmation, and the
confirmation message the delivery engine sends for it.

- A contact suppressed for a bounce, a complaint, an invalid address or by hand is never signed up again
  here (nothing is stored; the answer is the same as for any signup).
- A signup needs confirmation (double opt-in) when the shop asks for it (the default), and always when the
  contact unsubscribed before: a signup never lifts a suppression, only the person's confirmation does.
- A pending signup asked for again gets its confirmation again, at most once per `resend_after_minutes`.
- The confirmation goes into the outbox in the signup's transaction; the delivery engine composes it with
  `confirmation_message` and sends it through its lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

import sqlalchemy as sa

from backinstock import links
from backinstock.settings import Settings
from backinstock.store import catalog, outbox, subscriptions, suppressions
from backinstock.store.subscriptions import Consent, Signup


class Unread:
    """The caller has not read the contact's suppression: `sign_up` reads it."""


UNREAD = Unread()


def sign_up(
    connection: sa.Connection,
    settings: Settings,
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
    suppression: str | Unread | None = UNREAD,
) -> Signup | None:
    """Sign the contact up for the variant as the rules above say; None when nothing was stored.
    `suppression`: the contact's suppression reason when the caller read it already (signup_facts)."""
    contact = subscriptions.normalise_contact(channel, contact)
    reason = (
        suppressions.suppression_reason(connection, shop=shop, channel=channel, contact=contact)
        if isinstance(suppression, Unread)
        else suppression
    )
    if reason is not None and reason != suppressions.UNSUBSCRIBED:
        return None
    known = settings.shop(shop)
    needs_confirmation = reason == suppressions.UNSUBSCRIBED or known is None or known.double_opt_in
    confirm_by = now + timedelta(hours=settings.consent.confirm_hours) if needs_confirmation else None
    signup = subscriptions.subscribe(
        connection,
        shop=shop,
        variant_id=variant_id,
        product_id=product_id,
        channel=channel,
        contact=contact,
        locale=locale,
        client_id=client_id,
        consent=consent,
        confirm_by=confirm_by,
        confirmation=True,
        now=now,
    )
    if signup.status == subscriptions.PENDING and _resend_due(connection, settings, signup, now):
        outbox.enqueue(
            connection,
            shop=shop,
            kind=outbox.CONFIRMATION,
            channel=channel,
            contact=contact,
            locale=locale,
            subscription_id=signup.subscription_id,
            now=now,
        )
    return signup


def _resend_due(connection: sa.Connection, settings: Settings, signup: Signup, now: datetime) -> bool:
    """A pending alert asked for again: its confirmation again, unless one went out lately (a new alert's
    confirmation was written with it)."""
    if signup.created:
        return False
    last = outbox.last_created_at(connection, signup.subscription_id, outbox.CONFIRMATION)
    return last is None or now - last >= timedelta(minutes=settings.consent.resend_after_minutes)


@dataclass(frozen=True)
class Message:
    """A message ready for a provider lane: email (subject, text, HTML) or SMS (text only)."""

    channel: str
    to: str
    subject: str
    text: str
    html: str | None
    custom_args: dict[str, str]


WORDS = {
    "en": {
        "subject": "Please confirm your back-in-stock alert for {product}",
        "ask": "Please confirm that you want one email from {sender} when {product} is back in stock.",
        "button": "Yes, notify me",
        "valid": "This link works until {until} (UTC).",
        "ignore": "If you did not ask for this, ignore this message: you will hear nothing more from us.",
        "manage": "Your alerts",
        "sms": "{sender}: confirm your back-in-stock alert for {product}: {url} (until {until} UTC)",
    },
    "de": {
        "subject": "Bitte bestätigen Sie Ihre Benachrichtigung für {product}",
        "ask": "Bitte bestätigen Sie, dass {sender} Ihnen eine E-Mail sendet, wenn {product} wieder "
        "verfügbar ist.",
        "button": "Ja, benachrichtigen",
        "valid": "Dieser Link gilt bis {until} (UTC).",
        "ignore": "Wenn Sie das nicht angefordert haben, ignorieren Sie diese Nachricht.",
        "manage": "Ihre Benachrichtigungen",
        "sms": "{sender}: Benachrichtigung für {product} bestätigen: {url} (bis {until} UTC)",
    },
}


def _words(locale: str) -> dict[str, str]:
    return WORDS.get(locale, WORDS.get(locale.split("-", 1)[0], WORDS["en"]))


def confirmation_message(
    connection: sa.Connection, settings: Settings, message: outbox.OutboxMessage, now: datetime
) -> Message | None:
    """The confirmation for an outbox message, or None when its subscription no longer waits for one
    (confirmed, cancelled, purged or past its confirm_by): the caller cancels the message then."""
    if message.subscription_id is None:
        return None
    subscription = subscriptions.get_subscription(connection, message.subscription_id)
    if (
        subscription is None
        or subscription["status"] != subscriptions.PENDING
        or subscription["confirm_by"] <= now
    ):
        return None
    variant = catalog.find_variant(connection, message.shop, subscription["variant_id"])
    product = (
        subscription["variant_id"]
        if variant is None
        else " ".join(filter(None, [variant["product_title"], _variant_title(variant["variant_title"])]))
    )
    words = _words(message.locale)
    sender = settings.email.from_name
    until = f"{subscription['confirm_by']:%Y-%m-%d %H:%M}"
    confirm = links.confirm_url(settings, message.shop, subscription["id"], subscription["confirm_by"])
    preferences = links.preferences_url(settings, message.shop, subscription["id"])
    custom_args = {
        "kind": outbox.CONFIRMATION,
        "outbox_id": str(message.id),
        "shop": message.shop,
        "variant_id": subscription["variant_id"],
    }
    if message.channel != "email":
        text = words["sms"].format(sender=sender, product=product, url=confirm, until=until)
        return Message(message.channel, message.contact, "", text, None, custom_args)
    ask = words["ask"].format(sender=sender, product=product)
    valid = words["valid"].format(until=until)
    text = f"{ask}\n\n{confirm}\n\n{valid}\n{words['ignore']}\n\n{words['manage']}: {preferences}\n"
    html = (
        f"<p>{escape(ask)}</p>"
        f'<p><a href="{escape(confirm)}">{escape(words["button"])}</a></p>'
        f"<p>{escape(valid)}<br>{escape(words['ignore'])}</p>"
        f'<p><a href="{escape(preferences)}">{escape(words["manage"])}</a></p>'
    )
    subject = words["subject"].format(product=product)
    return Message(message.channel, message.contact, subject, text, html, custom_args)


def _variant_title(title: str | None) -> str | None:
    """Shopify calls a product's only variant `Default Title`: not worth saying."""
    return None if not title or title == "Default Title" else f"({title})"
