import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW, SHOP, variant_row

from backinstock import privacy
from backinstock.store import consent_texts, suppressions
from backinstock.store.catalog import upsert_variants
from backinstock.store.tables import outbox_messages, subscriptions, tracking_events
from storefront.api import UNINSTALLED_SHOP

SIGNUP = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "email": "Ada@Example.com"}


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1), variant_row(2)], NOW)


def stored_subscriptions(store_engine):
    with store_engine.connect() as connection:
        return connection.execute(sa.select(subscriptions).order_by(subscriptions.c.id)).all()


ACCEPTED = {"status": "accepted", "double_opt_in": True}


def test_signups_are_answered_alike_whatever_became_of_them(storefront, store_engine):
    """New alert, repeated alert, a contact suppressed after a bounce, a bot: one answer, byte for byte."""
    with store_engine.begin() as connection:
        suppressions.suppress(
            connection, shop=SHOP, channel="email", contact="bounced@example.com", reason="hard_bounce",
            source="t", now=NOW,
        )  # fmt: skip
    answers = [
        storefront.client.post("/api/subscriptions", json=SIGNUP),
        storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": " ada@example.COM "}),
        storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": "bounced@example.com"}),
        storefront.client.post("/api/subscriptions", json=SIGNUP | {"website": "http://spam"}),
    ]
    assert {(answer.status_code, answer.content) for answer in answers} == {(202, answers[0].content)}
    assert answers[0].json() == ACCEPTED
    rows = stored_subscriptions(store_engine)
    assert [(row.contact, row.status, row.created_at, row.confirm_by) for row in rows] == [
        ("ada@example.com", "pending", NOW, NOW + timedelta(hours=72))
    ]


def test_signup_keeps_proof_of_consent_with_the_servers_text(storefront, store_engine):
    shown = storefront.client.get("/api/consent", params={"shop": SHOP, "locale": "de-DE"}).json()
    response = storefront.client.post(
        "/api/subscriptions",
        json=SIGNUP
        | {
            "locale": "de_DE",
            "client_id": "pixel-7",
            "consent_version": shown["version"],
            "consent_text": "I agree to anything",  # a client's text is no proof: ignored
            "source_url": "https://test-shop.myshopify.com/products/linen-shirt-1",
        },
        headers={"User-Agent": "Firefox/140"},
    )
    storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": "bob@example.com"})
    assert response.status_code == 202
    assert (shown["locale"], shown["text"]) == ("de", consent_texts.SHIPPED[("email", "de")])
    with_version, current = stored_subscriptions(store_engine)
    assert (with_version.consent_text, with_version.consent_version_id) == (shown["text"], shown["version"])
    assert (with_version.consent_method, with_version.consent_at) == ("storefront_form", NOW)
    assert with_version.consent_source == "https://test-shop.myshopify.com/products/linen-shirt-1"
    assert (with_version.consent_ip, with_version.consent_user_agent) == ("127.0.0.1", "Firefox/140")
    assert (with_version.locale, with_version.client_id, with_version.product_id) == (
        "de-DE",
        "pixel-7",
        "gid://shopify/Product/1001",
    )
    assert current.consent_text == consent_texts.SHIPPED[("email", "en")] and current.consent_version_id


def test_a_consent_version_of_another_shop_or_channel_is_refused(storefront, store_engine):
    sms = storefront.client.get("/api/consent", params={"shop": SHOP, "channel": "sms"}).json()
    response = storefront.client.post("/api/subscriptions", json=SIGNUP | {"consent_version": sms["version"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consent_version"
    assert stored_subscriptions(store_engine) == []


def test_sms_alerts_take_a_phone_number_in_e164(storefront, store_engine):
    sms = {"shop": SHOP, "variant_id": 1, "channel": "sms"}
    good = [
        storefront.client.post("/api/subscriptions", json=sms | {"phone": "+49 151 2345 6789"}),
        storefront.client.post("/api/subscriptions", json=sms | {"phone": "0152 3456 7890", "country": "de"}),
    ]
    bad = {
        "landline": sms | {"phone": "+49 30 1234567"},
        "national without country": sms | {"phone": "0151 23456789"},
        "not a number": sms | {"phone": "call me"},
        "too short": sms | {"phone": "+49 151"},
        "missing": sms,
    }
    answers = {name: storefront.client.post("/api/subscriptions", json=body) for name, body in bad.items()}
    assert [answer.status_code for answer in good] == [202, 202]
    for name, answer in answers.items():
        assert answer.status_code == 422, name
        assert [error["field"] for error in answer.json()["errors"]] == ["phone"], name
    assert [(row.channel, row.contact, row.status) for row in stored_subscriptions(store_engine)] == [
        ("sms", "+4915123456789", "pending"),
        ("sms", "+4915234567890", "pending"),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"channel": "fax"}, "channel"),
        ({"locale": "english please"}, "locale"),
        ({"shop": "unknown.myshopify.com"}, "shop"),
        ({"variant_id": "gid://shopify/ProductVariant/999"}, "variant_id"),
        ({"variant_id": "shirt"}, "variant_id"),
        ({"variant_id": None}, "variant_id"),
        ({"source_url": "x" * 2000}, "source_url"),
    ],
)
def test_signup_refusals_name_the_field_and_store_nothing(storefront, store_engine, change, field):
    body = {key: value for key, value in (SIGNUP | change).items() if value is not None}
    response = storefront.client.post("/api/subscriptions", json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [field]
    assert errors[0]["message"]
    assert stored_subscriptions(store_engine) == []


def test_a_body_that_is_not_json_is_refused_as_a_whole(storefront):
    response = storefront.client.post(
        "/api/subscriptions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["body"]


def test_product_views_are_recorded(storefront, store_engine):
    view = {"shop": SHOP, "name": "product_viewed", "client_id": "pixel-1", "variant_id": "2"}
    assert storefront.client.post("/api/events", json=view).status_code == 202
    with store_engine.connect() as connection:
        [event] = connection.execute(sa.select(tracking_events)).all()
    assert (event.event_type, event.client_id, event.occurred_at) == ("product_viewed", "pixel-1", NOW)
    assert (event.variant_id, event.product_id) == (
        "gid://shopify/ProductVariant/2",
        "gid://shopify/Product/1002",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "page_viewed"}, "name"),
        ({"client_id": ""}, "client_id"),
        ({"shop": "x.myshopify.com"}, "shop"),
    ],
)
def test_bad_events_name_the_field(storefront, store_engine, change, field):
    view = {"shop": SHOP, "name": "product_viewed", "client_id": "pixel-1", "variant_id": 1} | change
    response = storefront.client.post(
        "/api/events", content=json.dumps(view), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]
    with store_engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(tracking_events)).scalar_one() == 0


def test_health(storefront):
    assert storefront.client.get("/healthz").json() == {"status": "ok"}


def test_a_shop_that_uninstalled_the_app_takes_no_signups_until_it_installs_again(storefront, store_engine):
    """Between `app/uninstalled` and the erasure nothing is sent for the shop: a signup would wait for a
    confirmation that never leaves. It is refused, naming the shop, and nothing is stored."""
    with store_engine.begin() as connection:
        privacy.uninstall(connection, storefront.settings, shop=SHOP, now=NOW)
    refused = storefront.client.post("/api/subscriptions", json=SIGNUP)
    assert refused.status_code == 422
    assert refused.json() == {"errors": [{"field": "shop", "message": UNINSTALLED_SHOP}]}
    assert stored_subscriptions(store_engine) == []
    with store_engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(outbox_messages)).scalar() == 0

    with store_engine.begin() as connection:
        privacy.reinstall(connection, shop=SHOP, now=NOW)
    assert storefront.client.post("/api/subscriptions", json=SIGNUP).status_code == 202
    assert [row.contact for row in stored_subscriptions(store_engine)] == ["ada@example.com"]
