"""No personal data or token in any log: the storefront as production runs it (its own process, its logging
configuration), its output captured while an attack battery runs against it, including a busy store."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from urllib.parse import urlencode

from seed_rows import NOW, SHOP, signup, variant_row
from sf_helpers import WEBHOOK_SECRET, shopify_headers

from backinstock import links, tokens
from backinstock.store.catalog import upsert_variants
from storefront.proxy import proxy_signature

EMAILS = ("grace@example.com", "hopper@example.com", "lovelace@example.com", "turing@example.com")
CUSTOMER_ID = "8675309"


def _webhook(client, topic, payload, webhook_id):
    body = json.dumps(payload).encode()
    headers = shopify_headers(body, X_Shopify_Topic=topic, X_Shopify_Webhook_Id=webhook_id)
    return client.post("/webhooks/shopify", content=body, headers=headers)


def test_an_attack_battery_leaves_no_contact_token_or_address_in_the_logs(storefront_process, store_engine):
    settings, client = storefront_process.settings, storefront_process.client
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1)], NOW)
        grace = signup(connection, EMAILS[0])
        turing = signup(connection, EMAILS[3], variant=1)
    secrets = [
        url.rsplit("/", 1)[1]
        for url in (
            links.unsubscribe_url(settings, SHOP, grace),
            links.preferences_url(settings, SHOP, grace),
            links.confirm_url(settings, SHOP, grace, NOW + timedelta(days=1)),
            links.click_url(settings, SHOP, 1),
            links.unsubscribe_url(settings, SHOP, turing),
        )
    ]
    unsubscribe, preferences, confirm, click, turing_unsubscribe = secrets
    one_click = {"List-Unsubscribe": "One-Click"}

    client.get(f"/u/{unsubscribe}?utm_source=mail&email={EMAILS[0]}")
    client.post(f"/u/{unsubscribe}", data=one_click)
    client.get(f"/p/{preferences}")
    client.post(f"/confirm/{confirm}")
    client.get(f"/c/{click}")
    client.get(f"/o/{tokens.sign(settings.token_keys, tokens.OPEN, 1, shop=SHOP)}.gif")
    client.get(f"/u/{unsubscribe[:-3]}xyz")  # tampered
    signup_body = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1"}
    client.post("/api/subscriptions", json=signup_body | {"email": EMAILS[1]})
    client.post("/api/subscriptions", json=signup_body | {"email": EMAILS[1].replace("@", "\x00@")})
    client.post("/api/subscriptions", json=signup_body | {"email": EMAILS[1], "pad": "x" * 100_000})  # 413
    client.post(
        "/api/subscriptions",
        content=b"[" * 5000 + EMAILS[1].encode(),
        headers={"Content-Type": "application/json"},
    )
    parameters = [
        ("shop", SHOP),
        ("logged_in_customer_id", CUSTOMER_ID),
        ("timestamp", str(int(NOW.timestamp()))),
    ]
    parameters.append(("signature", proxy_signature(WEBHOOK_SECRET, parameters)))
    client.post(f"/proxy/api/subscriptions?{urlencode(parameters)}", json=signup_body | {"email": EMAILS[2]})
    customer = {"id": int(CUSTOMER_ID), "email": EMAILS[2], "phone": "+4917012345678"}
    _webhook(client, "customers/data_request", {"customer": customer, "orders_requested": []}, "p-1")
    _webhook(client, "customers/redact", {"customer": customer, "orders_to_redact": [1]}, "p-2")
    _webhook(client, "customers/redact", {"customer": {"email": 5}}, "p-3")  # refused: 400
    forged = shopify_headers(b"{}", secret="guess", X_Shopify_Topic="customers/redact")
    client.post("/webhooks/shopify", content=json.dumps({"customer": customer}).encode(), headers=forged)

    if settings.store_url.startswith("sqlite"):  # a writer holds the store: the unsubscribe is spooled
        holder = sqlite3.connect(settings.store_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        assert client.post(f"/u/{turing_unsubscribe}", data=one_click).status_code == 200
        holder.execute("ROLLBACK")
        holder.close()
    with store_engine.begin() as connection:  # break the store: the next write fails inside the database
        connection.exec_driver_sql("DROP TABLE tracking_events")
    broken = client.post(
        "/api/events",
        json={"shop": SHOP, "name": "product_viewed", "client_id": "pixel-lovelace", "variant_id": 1},
    )
    assert broken.status_code in (500, 503)

    time.sleep(0.5)
    output = storefront_process.log.read_text()
    assert "/u/<token>" in output and "/webhooks/shopify" in output and "127.0.0.0/24" in output
    if settings.store_url.startswith("sqlite"):
        assert "unsubscribe spooled" in output
    leaks = [*secrets, *EMAILS, CUSTOMER_ID, "4917012345678", "pixel-lovelace", "utm_source", '127.0.0.1"']
    assert [leak for leak in leaks if leak in output] == []
    assert [leak for leak in leaks if leak.lower() in output.lower()] == []
