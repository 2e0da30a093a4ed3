"""Abuse that must fail: bulk signups (rate limits per IP, contact and shop), bots (honeypot), calls from
other sites (CORS), forged App Proxy calls; and logs that keep no personal data or token."""

import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from seed_rows import NOW, SHOP, signup, variant_row
from sf_helpers import WEBHOOK_SECRET, stored_rows

from backinstock import links
from backinstock.settings import RateLimit
from backinstock.store.catalog import upsert_variants
from storefront.proxy import proxy_message, proxy_signature

OTHER_SHOP = "other-shop.myshopify.com"
SIGNUP = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "email": "ada@example.com"}


@pytest.fixture
def settings(settings):
    """Two shops (the first with a custom domain); the test client's loopback address is a trusted proxy."""
    shops = [
        settings.shops[0].model_copy(update={"storefront_origins": ["https://www.test-shop.example"]}),
        settings.shops[0].model_copy(update={"domain": OTHER_SHOP}),
    ]
    storefront = settings.storefront.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    return settings.model_copy(update={"shops": shops, "storefront": storefront})


@pytest.fixture(autouse=True)
def catalog(store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(n) for n in range(1, 8)], NOW)


def subscribe(storefront, ip="198.51.100.7", **change):
    return storefront.client.post("/api/subscriptions", json=SIGNUP | change, headers={"X-Forwarded-For": ip})


def test_300_signups_from_one_ip_are_cut_off_after_the_first_ten(storefront, store_engine):
    answers = [subscribe(storefront, email=f"victim-{n}@example.com") for n in range(300)]
    statuses = [answer.status_code for answer in answers]
    assert statuses[:10] == [answers[0].status_code] * 10 and answers[0].status_code < 300
    assert set(statuses[10:]) == {429}
    refused = answers[10]
    assert refused.headers["Retry-After"] == "6"  # 10 a minute: the next one in 6 s
    assert refused.json() == {
        "errors": [{"field": None, "message": "too many requests (signups per IP); try again later"}]
    }
    assert stored_rows(store_engine)["subscriptions"] == 10
    storefront.clock.set(NOW + timedelta(seconds=6))
    assert subscribe(storefront, email="later@example.com").status_code < 300
    assert subscribe(storefront, ip="203.0.113.9", email="elsewhere@example.com").status_code < 300


def test_one_contact_cannot_be_signed_up_over_and_over(storefront, store_engine):
    """Five signups an hour per contact at a shop, whatever IPs they come from."""
    answers = [
        subscribe(storefront, ip=f"198.51.100.{n}", variant_id=n, email="Ada@Example.com")
        for n in range(1, 7)
    ]
    assert [answer.status_code < 300 for answer in answers] == [True] * 5 + [False]
    assert answers[5].status_code == 429 and int(answers[5].headers["Retry-After"]) == 720
    assert stored_rows(store_engine)["subscriptions"] == 5


def test_a_shop_wide_limit_caps_signups_from_many_ips(storefront, store_engine):
    limits = storefront.settings.storefront.model_copy(
        update={"signups_per_shop": RateLimit(count=3, seconds=60)}
    )
    storefront.settings.storefront = limits  # the app reads its settings per request
    answers = [subscribe(storefront, ip=f"198.51.100.{n}", email=f"s{n}@example.com") for n in range(5)]
    assert [answer.status_code for answer in answers][3:] == [429, 429]
    assert stored_rows(store_engine)["subscriptions"] == 3


def test_an_untrusted_peer_cannot_choose_its_ip(storefront, settings, store_engine):
    """X-Forwarded-For is believed only from a trusted proxy: here the peer is not one."""
    storefront.settings.storefront = settings.storefront.model_copy(update={"trusted_proxies": []})
    answers = [subscribe(storefront, ip=f"198.51.100.{n}", email=f"v{n}@example.com") for n in range(12)]
    assert [answer.status_code for answer in answers].count(429) == 2


def test_the_honeypot_is_answered_like_a_signup_and_stores_nothing(storefront, store_engine):
    before = stored_rows(store_engine)
    trapped = subscribe(storefront, email="bot@example.com", website="https://spam.example")
    real = subscribe(storefront, email="bob@example.com")
    assert trapped.status_code == real.status_code and trapped.json().keys() == real.json().keys()
    after = stored_rows(store_engine)
    assert after["subscriptions"] == before["subscriptions"] + 1


def test_preflight_is_allowed_from_the_shops_own_origins_only(storefront):
    def preflight(origin):
        return storefront.client.options(
            "/api/subscriptions",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )

    for origin in (f"https://{SHOP}", "https://www.test-shop.example", f"https://{OTHER_SHOP}"):
        allowed = preflight(origin)
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == origin
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert allowed.headers["access-control-allow-headers"] == "Content-Type"
    refused = preflight("https://evil.example")
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


def test_a_browser_call_from_another_origin_is_refused_and_stores_nothing(storefront, store_engine):
    before = stored_rows(store_engine)
    evil = storefront.client.post(
        "/api/subscriptions", json=SIGNUP, headers={"Origin": "https://evil.example"}
    )
    # An origin of one shop may not act for another shop.
    borrowed = storefront.client.post(
        "/api/subscriptions", json=SIGNUP, headers={"Origin": f"https://{OTHER_SHOP}"}
    )
    for response in (evil, borrowed):
        assert response.status_code == 403
        assert response.json()["errors"][0]["field"] == "Origin"
    assert stored_rows(store_engine) == before
    own = storefront.client.post(
        "/api/subscriptions", json=SIGNUP, headers={"Origin": "https://www.test-shop.example"}
    )
    assert own.status_code < 300
    assert own.headers["access-control-allow-origin"] == "https://www.test-shop.example"


def proxied(storefront, shop=SHOP, secret=WEBHOOK_SECRET, timestamp=None, **extra):
    parameters = [
        ("shop", shop),
        ("logged_in_customer_id", ""),
        ("path_prefix", "/apps/back-in-stock"),
        ("timestamp", str(int((timestamp or NOW).timestamp()))),
        *extra.items(),
    ]
    return [*parameters, ("signature", proxy_signature(secret, parameters))]


def test_shopifys_documented_proxy_signature():
    """The example of Shopify's App Proxy documentation: shared secret `hush`."""
    parameters = [
        ("extra", "1"),
        ("extra", "2"),
        ("shop", "shop-name.myshopify.com"),
        ("logged_in_customer_id", "1"),
        ("path_prefix", "/apps/awesome_reviews"),
        ("timestamp", "1317327555"),
    ]
    assert proxy_message(parameters) == (
        "extra=1,2logged_in_customer_id=1path_prefix=/apps/awesome_reviews"
        "shop=shop-name.myshopify.comtimestamp=1317327555"
    )
    # The documentation prints the forwarded request's signature (cut short on the page): 4c68c862...334b.
    assert proxy_signature("hush", parameters).startswith("4c68c8624d737112c91818c11017d24d334b")


def test_app_proxy_calls_must_be_signed(storefront, store_engine):
    before = stored_rows(store_engine)
    body = {key: value for key, value in SIGNUP.items() if key != "shop"}

    def call(parameters):
        return storefront.client.post(f"/proxy/api/subscriptions?{urlencode(parameters)}", json=body)

    forged = proxied(storefront, secret="guess")
    stale = proxied(storefront, timestamp=NOW - timedelta(minutes=5))
    tampered = [(k, OTHER_SHOP if k == "shop" else v) for k, v in proxied(storefront)]
    unsigned = [(k, v) for k, v in proxied(storefront) if k != "signature"]
    answers = {
        name: call(p)
        for name, p in [("forged", forged), ("stale", stale), ("tampered", tampered), ("unsigned", unsigned)]
    }
    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 401)
    assert answers["stale"].json()["errors"][0]["field"] == "timestamp"
    assert answers["forged"].json()["errors"][0]["field"] == "signature"
    assert stored_rows(store_engine) == before

    good = call(proxied(storefront))
    assert good.status_code < 300, good.text
    other = storefront.client.post(
        f"/proxy/api/subscriptions?{urlencode(proxied(storefront))}", json=body | {"shop": OTHER_SHOP}
    )
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "shop"
    assert stored_rows(store_engine)["subscriptions"] == before["subscriptions"] + 1


def test_logs_hold_no_token_contact_or_full_ip(storefront_process, store_engine):
    """The storefront as production runs it (its own process, its logging configuration)."""
    with store_engine.begin() as connection:
        subscription_id = signup(connection, "grace@example.com")
    url = links.unsubscribe_url(storefront_process.settings, SHOP, subscription_id)
    token = url.rsplit("/", 1)[1]
    client = storefront_process.client
    client.get(f"/u/{token}?utm_source=mail")
    client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    client.post("/api/subscriptions", json=SIGNUP | {"email": "hopper@example.com"})
    client.post("/api/subscriptions", json=SIGNUP | {"email": "hopper\x00@example.com"})
    with store_engine.begin() as connection:  # break the store: the next write fails inside the database
        connection.exec_driver_sql("DROP TABLE tracking_events")
    broken = client.post(
        "/api/events",
        json={"shop": SHOP, "name": "product_viewed", "client_id": "lovelace-pixel", "variant_id": 1},
    )
    assert broken.status_code in (500, 503) and "lovelace" not in broken.text
    time.sleep(0.3)
    output = storefront_process.log.read_text()
    assert "/u/<token>" in output and "127.0.0.0/24" in output
    for secret in (token, "grace@example.com", "hopper", "lovelace-pixel", "utm_source", '127.0.0.1"'):
        assert secret not in output, secret
