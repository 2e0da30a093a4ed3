"""The attack battery's input limits: each attack gets its documented 4xx in the one error shape and stores
nothing; no input gives a 5xx."""

import json

import pytest
from seed_rows import NOW, SHOP, variant_row
from sf_helpers import raw_request, shopify_headers, stored_rows

from backinstock.store.catalog import upsert_variants

SIGNUP = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "email": "ada@example.com"}
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1)], NOW)


def assert_refused(response, status, field):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["field"] == field and error["message"]


def test_a_200_mb_webhook_is_refused_before_its_body_is_read(storefront, store_engine):
    before = stored_rows(store_engine)
    head = (
        "POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Shopify-Shop-Domain: {SHOP}\r\nContent-Length: {200 * MB}\r\n\r\n"
    )
    status, sent = raw_request(str(storefront.client.base_url), head, [b"{" * MB] * 200)
    assert status == 413
    assert sent < 20 * MB  # answered at once; what was sent meanwhile sat in socket buffers, unread
    assert stored_rows(store_engine) == before


def test_a_body_without_a_length_is_cut_off_at_the_limit(storefront, store_engine):
    before = stored_rows(store_engine)
    head = (
        "POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-Shopify-Shop-Domain: {SHOP}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (MB, b" " * MB)
    status, sent = raw_request(str(storefront.client.base_url), head, [chunk] * 200)
    assert status == 413
    assert sent < 40 * MB
    assert stored_rows(store_engine) == before


def test_a_50_mb_signup_is_refused_and_not_stored(storefront, store_engine):
    before = stored_rows(store_engine)
    body = json.dumps(SIGNUP | {"consent_text": "x" * 50 * MB}).encode()
    response = storefront.client.post(
        "/api/subscriptions", content=body, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 413, "body")
    assert stored_rows(store_engine) == before


@pytest.mark.parametrize("depth", [9, 5_000])
def test_deeply_nested_json_is_refused(storefront, store_engine, depth):
    before = stored_rows(store_engine)
    body = '{"shop": "' + SHOP + '", "variant_id": ' + "[" * depth + "1" + "]" * depth + "}"
    response = storefront.client.post(
        "/api/subscriptions", content=body, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 400, "body")
    assert "nested deeper than 8" in response.json()["errors"][0]["message"]
    assert stored_rows(store_engine) == before


def test_a_100k_deep_signed_webhook_is_a_400_not_a_500(storefront, store_engine):
    before = stored_rows(store_engine)
    body = b"[" * 100_000 + b"]" * 100_000
    response = storefront.client.post("/webhooks/shopify", content=body, headers=shopify_headers(body))
    assert_refused(response, 400, "body")
    assert stored_rows(store_engine) == before


@pytest.mark.parametrize(
    "triggered",
    ["9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2027-06-01T00:00:00Z"],
)
def test_implausible_triggered_at_is_refused(storefront, store_engine, triggered):
    before = stored_rows(store_engine)
    body = b'{"available": 1}'
    response = storefront.client.post(
        "/webhooks/shopify", content=body, headers=shopify_headers(body, X_Shopify_Triggered_At=triggered)
    )
    assert_refused(response, 400, "X-Shopify-Triggered-At")
    assert stored_rows(store_engine) == before


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Shopify-Webhook-Id", "w" * 129),
        ("X-Shopify-Event-Id", "e" * 129),
        ("X-Shopify-API-Version", "2026-10" * 3),
        ("X-Shopify-Topic", "inventory_levels/update" + "x" * 60),
    ],
)
def test_header_values_wider_than_their_columns_are_refused(storefront, store_engine, header, value):
    """On PostgreSQL these were 500s (value too long for the column); now a 400 naming the header."""
    before = stored_rows(store_engine)
    body = b'{"available": 1}'
    headers = shopify_headers(body) | {header: value}
    response = storefront.client.post("/webhooks/shopify", content=body, headers=headers)
    assert_refused(response, 400, header)
    assert stored_rows(store_engine) == before


@pytest.mark.parametrize(
    "email",
    [
        "ada\x00@example.com",  # NUL: a 500 on PostgreSQL before
        "ada\x07@example.com",
        "ada\u200b@example.com",  # zero-width space
        "ada@exa\u200dmple.com",  # zero-width joiner in the domain
        "ada\u202e@example.com",  # right-to-left override
        "\u2066ada@example.com",  # left-to-right isolate
        "ada\u2028b@example.com",  # line separator
        "Ada <ada@example.com>",
        "ada@example",
        "a" * 250 + "@example.com",
    ],
)
def test_emails_with_hidden_characters_or_bad_shapes_are_refused(storefront, store_engine, email):
    before = stored_rows(store_engine)
    response = storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": email})
    assert_refused(response, 422, "email")
    assert stored_rows(store_engine) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "pixel\x00"),
        ("locale", "en\u202e"),
        ("source_url", "javascript:alert(1)"),
        ("source_url", "https://shop.example/\x00"),
        ("client_id", "c" * 129),
        ("variant_id", "1" * 65),
        ("shop", "s" * 256),
    ],
)
def test_every_field_has_a_width_and_no_hidden_characters(storefront, store_engine, field, value):
    before = stored_rows(store_engine)
    response = storefront.client.post("/api/subscriptions", json=SIGNUP | {field: value})
    assert_refused(response, 422, field)
    assert stored_rows(store_engine) == before


def test_emails_are_normalised(storefront, store_engine):
    response = storefront.client.post("/api/subscriptions", json=SIGNUP | {"email": " Ada@BÜCHER.de "})
    assert response.status_code in (200, 201, 202), response.text
    with store_engine.connect() as connection:
        contact = connection.exec_driver_sql("SELECT contact FROM subscriptions").scalar_one()
    assert contact == "ada@xn--bcher-kva.de"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("PUT", "/api/subscriptions", 405), ("DELETE", "/webhooks/shopify", 405)],
)
def test_unknown_routes_and_methods_answer_in_the_same_shape(storefront, method, path, status):
    response = storefront.client.request(method, path)
    assert_refused(response, status, None)


def test_a_bad_content_length_is_a_400(storefront, store_engine):
    head = "POST /api/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"
    status, _ = raw_request(str(storefront.client.base_url), head, [])
    assert status == 400
