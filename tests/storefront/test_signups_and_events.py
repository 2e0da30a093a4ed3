import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW, SHOP, variant_row

from backinstock.store.catalog import upsert_variants
from backinstock.store.tables import subscriptions, tracking_events
from storefront.api import DEFAULT_CONSENT_TEXT

SIGNUP = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "email": "Ada@Example.com"}


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1), variant_row(2)], NOW)


def stored_subscriptions(store_engine):
    with store_engine.connect() as connection:
        return connection.execute(sa.select(subscriptions).order_by(subscriptions.c.id)).all()


def test_signup_creates_then_answers_the_same_alert(storefront, store_engine):
    created = storefront.client.post("/api/subscriptions", json=SIGNUP)
    storefront.clock.set(NOW + timedelta(minutes=5))
    again = storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": " ada@example.COM "})
    other = storefront.client.post("/api/subscriptions", json=SIGNUP | {"variant_id": 2})

    assert created.status_code == 201 and again.status_code == 200 and other.status_code == 201
    assert (
        created.json()
        == again.json()
        == {"subscription_id": created.json()["subscription_id"], "status": "active"}
    )
    rows = stored_subscriptions(store_engine)
    assert [(row.contact, row.variant_id, row.created_at) for row in rows] == [
        ("ada@example.com", "gid://shopify/ProductVariant/1", NOW),
        ("ada@example.com", "gid://shopify/ProductVariant/2", NOW + timedelta(minutes=5)),
    ]


def test_signup_keeps_proof_of_consent(storefront, store_engine):
    response = storefront.client.post(
        "/api/subscriptions",
        json=SIGNUP
        | {
            "locale": "de_DE",
            "client_id": "pixel-7",
            "consent_text": "Benachrichtige mich einmal.",
            "source_url": "https://test-shop.myshopify.com/products/linen-shirt-1",
        },
        headers={"User-Agent": "Firefox/140"},
    )
    storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": "bob@example.com"})
    assert response.status_code == 201
    with_text, default = stored_subscriptions(store_engine)
    assert (with_text.consent_text, with_text.consent_method, with_text.consent_at) == (
        "Benachrichtige mich einmal.",
        "storefront_form",
        NOW,
    )
    assert with_text.consent_source == "https://test-shop.myshopify.com/products/linen-shirt-1"
    assert (with_text.consent_ip, with_text.consent_user_agent) == ("127.0.0.1", "Firefox/140")
    assert (with_text.locale, with_text.client_id, with_text.product_id) == (
        "de-DE",
        "pixel-7",
        "gid://shopify/Product/1001",
    )
    assert default.consent_text == DEFAULT_CONSENT_TEXT


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"channel": "sms"}, "channel"),
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
