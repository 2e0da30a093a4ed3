"""What a signup must know before it writes, read in one statement.

A signup checks that the shop has not uninstalled the app, that the variant is the shop's, which consent
text the person was shown and whether the contact is suppressed. Asked one by one these were four round
trips; on PostgreSQL each costs the storefront about 0.1 ms of CPU besides the server's work, more than
the checks themselves. One statement of scalar subqueries answers them all (on SQLite it saves the
statements' overhead too). The answers are the same as the separate reads': each subquery is the read it
replaces.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from backinstock.store.catalog import variant_gid
from backinstock.store.consent_texts import ConsentText, locale_chain
from backinstock.store.tables import catalog_variants, consent_texts, shop_installations, suppressions

_TEXTS = consent_texts.c
_SHOWN_BY_VERSION = (
    sa.select(_TEXTS.id)
    .where(
        _TEXTS.id == sa.bindparam("version_id"),
        _TEXTS.shop == sa.bindparam("shop"),
        _TEXTS.channel == sa.bindparam("channel"),
    )
    .scalar_subquery()
)
# The newest text along the locale chain (`consent_texts.locale_chain`, padded to three by repeating its
# last entry): the most specific locale first, the newest version of it.
_LOCALES = [sa.bindparam(f"locale_{n}") for n in range(3)]
_SHOWN_NOW = (
    sa.select(_TEXTS.id)
    .where(
        _TEXTS.shop == sa.bindparam("shop"),
        _TEXTS.channel == sa.bindparam("channel"),
        _TEXTS.locale.in_(_LOCALES),
    )
    .order_by(sa.case((_TEXTS.locale == _LOCALES[0], 0), (_TEXTS.locale == _LOCALES[1], 1), else_=2))
    .order_by(_TEXTS.id.desc())
    .limit(1)
    .scalar_subquery()
)


def _facts(shown: sa.ScalarSelect) -> sa.Select:
    one_row = sa.select(sa.literal_column("1").label("one")).subquery("one_row")
    return sa.select(
        sa.exists()
        .where(
            shop_installations.c.shop == sa.bindparam("shop"),
            shop_installations.c.uninstalled_at.is_not(None),
        )
        .label("uninstalled"),
        sa.select(catalog_variants.c.product_id)
        .where(
            catalog_variants.c.shop == sa.bindparam("shop"),
            catalog_variants.c.variant_id == sa.bindparam("variant_id"),
        )
        .scalar_subquery()
        .label("product_id"),
        sa.select(suppressions.c.reason)
        .where(
            suppressions.c.shop == sa.bindparam("shop"),
            suppressions.c.channel == sa.bindparam("channel"),
            suppressions.c.contact == sa.bindparam("contact"),
        )
        .scalar_subquery()
        .label("suppression"),
        _TEXTS.id,
        _TEXTS.locale,
        _TEXTS.text,
    ).select_from(one_row.outerjoin(consent_texts, _TEXTS.id == shown))


# Built once: every signup executes one of them.
_BY_VERSION = _facts(_SHOWN_BY_VERSION)
_NOW = _facts(_SHOWN_NOW)


@dataclass(frozen=True)
class SignupFacts:
    uninstalled: bool  # the shop uninstalled the app (and did not install it again)
    variant_id: str  # as Shopify's gid
    product_id: str | None  # None: the shop has no such variant
    suppression: str | None  # why the contact is suppressed, None when it is not
    shown: ConsentText | None  # None: no such version (when named), or the shop has no text yet


def signup_facts(
    connection: sa.Connection,
    *,
    shop: str,
    variant_id: str | int,
    channel: str,
    contact: str,
    locale: str,
    consent_version: int | None,
) -> SignupFacts:
    """The facts for a signup of the (normalised) contact; the text shown is the version the client named,
    else the newest for the locale chain."""
    variant = variant_gid(variant_id)
    chain = locale_chain(locale)
    parameters = {"shop": shop, "variant_id": variant, "channel": channel, "contact": contact}
    if consent_version is None:
        padded = (chain + chain[-1:] * 3)[:3]
        row = connection.execute(_NOW, {**parameters, **{f"locale_{n}": padded[n] for n in range(3)}}).one()
    else:
        row = connection.execute(_BY_VERSION, {**parameters, "version_id": consent_version}).one()
    shown = None if row.id is None else ConsentText(row.id, channel, row.locale, row.text)
    return SignupFacts(bool(row.uninstalled), variant, row.product_id, row.suppression, shown)
