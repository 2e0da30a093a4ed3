import json
from urllib.parse import urlsplit

import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for

from backinstock import tokens
from backinstock.click_tokens import carried_job_ids
from backinstock.store import jobs, suppressions
from backinstock.store.tables import subscriptions, tracking_events
from dispatch.render import links
from storefront.links import PIXEL


def enqueue_one(store_engine, email="ada@example.com"):
    with store_engine.begin() as connection:
        subscription_id = signup(connection, email)
        jobs.enqueue_targets(connection, [target_for(connection, subscription_id)], NOW)
        [job] = jobs.claim(
            connection, lane="email", channel="email", worker_id="t", lease_seconds=60, now=NOW, limit=1
        )
    return job


def events(store_engine):
    with store_engine.connect() as connection:
        return connection.execute(sa.select(tracking_events).order_by(tracking_events.c.id)).all()


def path_of(url):
    """The link as the storefront sees it (messages carry the public storefront_url in front)."""
    return urlsplit(url).path


def test_open_pixel_records_an_open_and_a_bad_token_records_nothing(storefront, store_engine):
    job = enqueue_one(store_engine)
    pixel = path_of(links(storefront.settings, job).open_pixel)
    response = storefront.client.get(pixel, headers={"User-Agent": "Mail/1"})
    forged = storefront.client.get("/o/forged.token.gif")

    assert response.status_code == forged.status_code == 200
    assert response.content == forged.content == PIXEL and response.content.startswith(b"GIF89a")
    assert response.headers["content-type"] == "image/gif" and "no-store" in response.headers["cache-control"]
    [opened] = events(store_engine)
    assert (opened.event_type, opened.job_id, opened.shop, opened.occurred_at) == ("open", job.id, SHOP, NOW)
    assert opened.user_agent == "Mail/1"


def test_click_records_and_redirects_with_utm_and_the_click_token(storefront, store_engine):
    job = enqueue_one(store_engine)
    click = path_of(links(storefront.settings, job).click)
    response = storefront.client.get(click)
    expected = (
        "https://test-shop.myshopify.com/products/linen-shirt-1?variant=1"
        "&utm_source=backinstock&utm_medium=email&utm_campaign=back_in_stock"
        f"&bis_click={click.removeprefix('/c/')}"
    )
    assert response.status_code == 302 and response.headers["location"] == expected
    # the token on the landing page verifies as this job's click: an order carrying it credits the job
    keys, clicked_at = storefront.settings.token_keys, NOW
    assert carried_job_ids("{}", json.dumps([expected]), keys, SHOP, clicked_at) == [job.id]
    [clicked] = events(store_engine)
    assert (clicked.event_type, clicked.job_id, clicked.url, clicked.variant_id) == (
        "click",
        job.id,
        expected,
        "gid://shopify/ProductVariant/1",
    )


def test_bad_click_tokens_get_a_404_page(storefront, store_engine):
    job = enqueue_one(store_engine)
    keys = storefront.settings.token_keys
    forged = storefront.client.get("/c/forged.token")
    wrong_purpose = storefront.client.get(f"/c/{tokens.sign(keys, tokens.OPEN, job.id, shop=SHOP)}")
    no_such_job = storefront.client.get(f"/c/{tokens.sign(keys, tokens.CLICK, 999, shop=SHOP)}")
    elsewhere = tokens.sign(keys, tokens.CLICK, job.id, shop="x.myshopify.com")
    other_shop = storefront.client.get(f"/c/{elsewhere}")
    for response in (forged, wrong_purpose, no_such_job, other_shop):
        assert response.status_code == 404 and "text/html" in response.headers["content-type"]
    assert events(store_engine) == []


def contact_state(store_engine):
    with store_engine.connect() as connection:
        statuses = connection.execute(
            sa.select(subscriptions.c.contact, subscriptions.c.status).order_by(subscriptions.c.id)
        ).all()
        suppressed = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="ada@example.com"
        )
    return [tuple(row) for row in statuses], suppressed


def seed_alerts(storefront, store_engine):
    """Two alerts for ada, one for bob; the unsubscribe link of ada's first."""
    with store_engine.begin() as connection:
        first = signup(connection, "ada@example.com", variant=1)
        signup(connection, "ada@example.com", variant=2)
        signup(connection, "bob@example.com", variant=1)
    return f"/u/{tokens.sign(storefront.settings.token_keys, tokens.UNSUBSCRIBE, first, shop=SHOP)}"


def test_get_shows_a_confirmation_page_and_changes_nothing(storefront, store_engine):
    path = seed_alerts(storefront, store_engine)
    before = contact_state(store_engine)
    page = storefront.client.get(path)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert contact_state(store_engine) == before
    assert before[1] is None


def test_one_click_post_unsubscribes_every_alert_of_the_contact(storefront, store_engine):
    path = seed_alerts(storefront, store_engine)
    response = storefront.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "location" not in response.headers
    assert "You are unsubscribed" in response.text
    statuses, suppressed = contact_state(store_engine)
    assert statuses == [
        ("ada@example.com", "unsubscribed"),
        ("ada@example.com", "unsubscribed"),
        ("bob@example.com", "active"),
    ]
    assert suppressed == "unsubscribed"
    assert storefront.client.post(path, files={"List-Unsubscribe": (None, "One-Click")}).status_code == 200


def test_unsubscribe_refuses_bad_tokens_and_bodies(storefront, store_engine):
    path = seed_alerts(storefront, store_engine)
    before = contact_state(store_engine)
    assert storefront.client.get("/u/forged.token").status_code == 404
    assert (
        storefront.client.post("/u/forged.token", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    )
    assert storefront.client.post(path, data={"something": "else"}).status_code == 400
    assert contact_state(store_engine) == before
