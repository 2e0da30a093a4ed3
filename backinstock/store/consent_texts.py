"""Consent texts, versioned on the server: what a shop shows beside its signup form, per channel and locale.

A signup records the version its person was shown (the client names it, or gets the current one), never a
text the client sends. A shop without its own text gets the shipped default, stored as a version on first
use so that subscriptions can point at it. Publishing a new text is an audited operator action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from backinstock.store import audit
from backinstock.store.tables import consent_texts

DEFAULT_LOCALE = "en"
SHIPPED = {
    ("email", "en"): "Email me once when this item is back in stock. I can unsubscribe at any time.",
    ("email", "de"): (
        "Benachrichtigen Sie mich einmal per E-Mail, wenn dieser Artikel wieder verfügbar ist. "
        "Ich kann mich jederzeit abmelden."
    ),
    ("sms", "en"): (
        "Text me once when this item is back in stock. Msg & data rates may apply. Reply STOP to cancel."
    ),
    ("sms", "de"): (
        "Benachrichtigen Sie mich einmal per SMS, wenn dieser Artikel wieder verfügbar ist. "
        "Es können Gebühren anfallen. Antworten Sie STOP zum Abmelden."
    ),
}
DEFAULT_AUTHOR = "shipped default"
# Built once: every signup asks one of them.
_NEWEST = (
    sa.select(consent_texts)
    .where(
        consent_texts.c.shop == sa.bindparam("shop"),
        consent_texts.c.channel == sa.bindparam("channel"),
        consent_texts.c.locale == sa.bindparam("locale"),
    )
    .order_by(consent_texts.c.id.desc())
    .limit(1)
)
_VERSION = sa.select(consent_texts).where(
    consent_texts.c.id == sa.bindparam("id"),
    consent_texts.c.shop == sa.bindparam("shop"),
    consent_texts.c.channel == sa.bindparam("channel"),
)


@dataclass(frozen=True)
class ConsentText:
    version_id: int
    channel: str
    locale: str
    text: str


def locale_chain(locale: str) -> list[str]:
    """`pt-BR` -> [pt-BR, pt, en]: most specific first, ending with the default."""
    return list(dict.fromkeys([locale, locale.split("-", 1)[0], DEFAULT_LOCALE]))


def _newest(connection: sa.Connection, shop: str, channel: str, locale: str) -> ConsentText | None:
    row = connection.execute(_NEWEST, {"shop": shop, "channel": channel, "locale": locale}).first()
    return None if row is None else ConsentText(row.id, row.channel, row.locale, row.text)


def current_text(
    connection: sa.Connection, *, shop: str, channel: str, locale: str, now: datetime
) -> ConsentText:
    """The text to show now for the shop, channel and locale (falling back along the locale chain, then to
    the shipped default, which is stored as the shop's first version)."""
    chain = locale_chain(locale)
    for candidate in chain:
        found = _newest(connection, shop, channel, candidate)
        if found is not None:
            return found
    shipped = next(candidate for candidate in chain if (channel, candidate) in SHIPPED)
    text = SHIPPED[(channel, shipped)]
    version_id = _insert(connection, shop, channel, shipped, text, DEFAULT_AUTHOR, now)
    return ConsentText(version_id, channel, shipped, text)


def text_by_version(
    connection: sa.Connection, *, shop: str, channel: str, version_id: int
) -> ConsentText | None:
    """A version the shop has published for the channel, or None (another shop's, or no such version)."""
    row = connection.execute(_VERSION, {"id": version_id, "shop": shop, "channel": channel}).first()
    return None if row is None else ConsentText(row.id, row.channel, row.locale, row.text)


def _insert(
    connection: sa.Connection, shop: str, channel: str, locale: str, text: str, author: str, now: datetime
) -> int:
    return connection.execute(
        sa.insert(consent_texts)
        .values(shop=shop, channel=channel, locale=locale, text=text, created_at=now, created_by=author)
        .returning(consent_texts.c.id)
    ).scalar_one()


def publish_text(
    connection: sa.Connection,
    *,
    shop: str,
    channel: str,
    locale: str,
    text: str,
    actor: str,
    source: str | None,
    now: datetime,
) -> int:
    """A new version of the shop's consent text, shown from now on; audited. Returns its version id."""
    text = text.strip()
    if not text:
        raise ValueError("a consent text cannot be empty")
    before = _newest(connection, shop, channel, locale)
    version_id = _insert(connection, shop, channel, locale, text, actor, now)
    audit.record(
        connection,
        actor=actor,
        action="consent_text.publish",
        target_type="consent_text",
        target_id=f"{shop}/{channel}/{locale}",
        now=now,
        before=None if before is None else {"version_id": before.version_id, "text": before.text},
        after={"version_id": version_id, "text": text},
        source=source,
    )
    return version_id
