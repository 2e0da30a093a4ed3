import base64
import hashlib
import hmac
import json

import sqlalchemy as sa
from seed_rows import NOW, SHOP

from backinstock.store.tables import webhook_inbox

BODY = json.dumps(
    {
        "inventory_item_id": 271878346596884015,
        "location_id": 24826418,
        "available": 4,
        "updated_at": "2026-11-02T11:59:00Z",
    }
).encode()


def signed(body, secret="whsec_test", **headers):
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Topic": "inventory_levels/update",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": "2026-11-02T11:59:01.123Z",
        "Content-Type": "application/json",
    } | headers


def inbox(store_engine):
    with store_engine.connect() as connection:
        return connection.execute(sa.select(webhook_inbox)).all()


def test_a_verified_webhook_is_stored_once_even_when_delivered_twice(storefront, store_engine):
    first = storefront.client.post("/webhooks/shopify", content=BODY, headers=signed(BODY))
    second = storefront.client.post("/webhooks/shopify", content=BODY, headers=signed(BODY))
    assert (first.status_code, first.json()) == (200, {"stored": True})
    assert (second.status_code, second.json()) == (200, {"stored": False})
    [row] = inbox(store_engine)
    assert (row.shop, row.topic, row.webhook_id, row.event_id, row.api_version) == (
        SHOP,
        "inventory_levels/update",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "2026-10",
    )
    assert row.payload.encode() == BODY and row.received_at == NOW
    assert row.triggered_at.isoformat() == "2026-11-02T11:59:01.123000+00:00"


def test_signatures_that_do_not_verify_are_refused_before_anything_is_stored(storefront, store_engine):
    tampered = BODY.replace(b'"available": 4', b'"available": 400')
    answers = [
        storefront.client.post("/webhooks/shopify", content=tampered, headers=signed(BODY)),
        storefront.client.post("/webhooks/shopify", content=BODY, headers=signed(BODY, secret="wrong")),
        storefront.client.post(
            "/webhooks/shopify", content=BODY, headers=signed(BODY, **{"X-Shopify-Hmac-Sha256": ""})
        ),
        storefront.client.post(
            "/webhooks/shopify",
            content=BODY,
            headers=signed(BODY, **{"X-Shopify-Shop-Domain": "other.myshopify.com"}),
        ),
    ]
    assert [answer.status_code for answer in answers] == [401] * 4
    assert inbox(store_engine) == []


def test_verified_but_unusable_webhooks(storefront, store_engine):
    no_id = signed(BODY)
    del no_id["X-Shopify-Webhook-Id"]
    not_json = b"<xml/>"
    answers = {
        "no id": storefront.client.post("/webhooks/shopify", content=BODY, headers=no_id),
        "bad time": storefront.client.post(
            "/webhooks/shopify", content=BODY, headers=signed(BODY, **{"X-Shopify-Triggered-At": "yesterday"})
        ),
        "not json": storefront.client.post("/webhooks/shopify", content=not_json, headers=signed(not_json)),
        "other topic": storefront.client.post(
            "/webhooks/shopify", content=BODY, headers=signed(BODY, **{"X-Shopify-Topic": "carts/update"})
        ),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == {
        "no id": 400,
        "bad time": 400,
        "not json": 400,
        "other topic": 200,
    }
    assert answers["other topic"].json()["stored"] is False
    assert inbox(store_engine) == []
