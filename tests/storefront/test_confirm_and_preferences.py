"""Double opt-in over HTTP (the link in the confirmation, a GET that changes nothing, a POST that confirms)
and the preferences page (a person's alerts with cancel buttons)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, variant_row

from backinstock import consent, links, tokens
from backinstock.store import outbox, subscriptions, suppressions
from backinstock.store.catalog import upsert_variants
from backinstock.store.tables import subscriptions as subscriptions_table

SIGNUP = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "email": "ada@example.com"}


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1), variant_row(2), variant_row(3)], NOW)


def confirmation_link(storefront, store_engine):
    """What the delivery engine would send for the newest confirmation in the outbox: its confirm link."""
    with store_engine.begin() as connection:
        [message] = outbox.claim_due(
            connection, channel="email", worker_id="t", lease_seconds=60, now=NOW + timedelta(days=9), limit=1
        )
        composed = consent.confirmation_message(connection, storefront.settings, message, NOW)
    return urlsplit(re.search(r"https?://\S+/confirm/\S+", composed.text).group(0)).path


def status_of(store_engine, email="ada@example.com"):
    with store_engine.connect() as connection:
        return connection.execute(
            sa.select(subscriptions_table.c.status, subscriptions_table.c.confirmed_at).where(
                subscriptions_table.c.contact == email
            )
        ).one()


def test_the_link_confirms_on_post_only(storefront, store_engine):
    assert storefront.client.post("/api/subscriptions", json=SIGNUP).status_code == 202
    path = confirmation_link(storefront, store_engine)
    page = storefront.client.get(path)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert tuple(status_of(store_engine)) == ("pending", None)  # a mail scanner's GET confirms nothing
    storefront.clock.set(NOW + timedelta(hours=1))
    confirmed = storefront.client.post(path, data={"confirm": "yes"}, headers={"User-Agent": "Mail/2"})
    assert confirmed.status_code == 200 and "You are signed up" in confirmed.text
    assert tuple(status_of(store_engine)) == ("active", NOW + timedelta(hours=1))
    again = storefront.client.post(path, data={"confirm": "yes"})
    assert again.status_code == 200  # idempotent
    assert tuple(status_of(store_engine)) == ("active", NOW + timedelta(hours=1))


def test_an_expired_link_says_so_and_confirms_nothing(storefront, store_engine):
    storefront.client.post("/api/subscriptions", json=SIGNUP)
    path = confirmation_link(storefront, store_engine)
    storefront.clock.set(NOW + timedelta(hours=72))
    for response in (storefront.client.get(path), storefront.client.post(path, data={"confirm": "yes"})):
        assert response.status_code == 410 and "Sign up again" in response.text
    assert tuple(status_of(store_engine)) == ("pending", None)


def test_other_tokens_and_cancelled_alerts_do_not_confirm(storefront, store_engine):
    storefront.client.post("/api/subscriptions", json=SIGNUP)
    path = confirmation_link(storefront, store_engine)
    subscription_id = tokens.verify(
        storefront.settings.token_keys, tokens.CONFIRM, path.rsplit("/", 1)[1], now=NOW
    ).number
    unsubscribe = links.unsubscribe_url(storefront.settings, SHOP, subscription_id).rsplit("/", 1)[1]
    assert storefront.client.post(f"/confirm/{unsubscribe}").status_code == 404
    assert storefront.client.post("/confirm/forged.token.x").status_code == 404
    with store_engine.begin() as connection:
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="t", now=NOW
        )
    assert storefront.client.post(path, data={"confirm": "yes"}).status_code == 404
    assert status_of(store_engine).status == "unsubscribed"


def test_a_third_party_cannot_re_enable_someone_who_opted_out(storefront, store_engine):
    """The attack: sign up an address that unsubscribed. The signup stores a pending alert and the opt-out
    stands; only the person's own confirmation (a link only their inbox has) lifts it."""
    with store_engine.begin() as connection:
        signup(connection, "ada@example.com", variant=2)
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="t", now=NOW
        )
    assert storefront.client.post("/api/subscriptions", json=SIGNUP).status_code == 202

    def suppressed():
        with store_engine.connect() as connection:
            return suppressions.suppression_reason(
                connection, shop=SHOP, channel="email", contact="ada@example.com"
            )

    assert suppressed() == "unsubscribed"
    path = confirmation_link(storefront, store_engine)
    storefront.client.post(path, data={"confirm": "yes"})
    assert suppressed() is None


def test_the_preferences_page_lists_alerts_and_cancels_them_one_by_one(storefront, store_engine):
    with store_engine.begin() as connection:
        first = signup(connection, "ada@example.com", variant=1)
        second = signup(connection, "ada@example.com", variant=2)
        signup(connection, "bob@example.com", variant=3)
    path = urlsplit(links.preferences_url(storefront.settings, SHOP, first)).path
    page = storefront.client.get(path)
    assert page.status_code == 200
    assert "Linen Shirt 1" in page.text and "Linen Shirt 2" in page.text and "Linen Shirt 3" not in page.text
    cancelled = storefront.client.post(f"{path}/cancel", data={"subscription_id": str(second)})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == path
    bobs = storefront.client.post(f"{path}/cancel", data={"subscription_id": "3"})  # not hers: no change
    assert bobs.status_code == 303
    with store_engine.connect() as connection:
        statuses = dict(
            connection.execute(sa.select(subscriptions_table.c.id, subscriptions_table.c.status)).all()
        )
        suppressed = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="ada@example.com"
        )
    assert statuses == {first: "active", second: "unsubscribed", 3: "active"} and suppressed is None
    page = storefront.client.get(path)
    assert "Linen Shirt 2" not in page.text and "Stop all alerts" in page.text
    stop_all = re.search(r'<form method="post" action="(/u/[^"]+)">', page.text).group(1)
    assert storefront.client.post(stop_all, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert "You have no alerts waiting" in storefront.client.get(path).text


def test_preferences_links_are_refused_when_forged_or_for_another_purpose(storefront, store_engine):
    with store_engine.begin() as connection:
        first = signup(connection, "ada@example.com")
    unsubscribe = links.unsubscribe_url(storefront.settings, SHOP, first).rsplit("/", 1)[1]
    for token in (unsubscribe, "forged.token.x"):
        assert storefront.client.get(f"/p/{token}").status_code == 404
        assert (
            storefront.client.post(f"/p/{token}/cancel", data={"subscription_id": str(first)}).status_code
            == 404
        )
    assert status_of(store_engine).status == "active"
