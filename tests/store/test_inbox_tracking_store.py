import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for

from backinstock.store.inbox import store_webhook
from backinstock.store.jobs import enqueue_targets
from backinstock.store.tables import tracking_events, webhook_inbox
from backinstock.store.tracking import record_job_event, record_product_view


def test_webhook_is_stored_once_per_webhook_id(store_engine):
    webhook = dict(
        shop=SHOP,
        topic="inventory_levels/update",
        webhook_id="wh-1",
        event_id="ev-1",
        api_version="2026-10",
        triggered_at=NOW,
        payload='{"available": 3}',
        now=NOW,
    )
    with store_engine.begin() as connection:
        assert store_webhook(connection, **webhook) is True
        assert store_webhook(connection, **webhook) is False
        rows = connection.execute(sa.select(webhook_inbox)).all()
    assert len(rows) == 1
    assert (rows[0].triggered_at, rows[0].payload) == (NOW, '{"available": 3}')


def test_views_opens_and_clicks_are_recorded(store_engine):
    with store_engine.begin() as connection:
        subscription_id = signup(connection, "ada@example.com")
        enqueue_targets(connection, [target_for(connection, subscription_id)], NOW)
        job_id = connection.execute(sa.text("SELECT id FROM notification_jobs")).scalar_one()
        record_product_view(
            connection,
            shop=SHOP,
            client_id="c-1",
            variant_id="gid://shopify/ProductVariant/1",
            product_id=None,
            url=None,
            user_agent="UA",
            now=NOW,
        )
        recorded = dict(shop=SHOP, url=None, user_agent=None, now=NOW)
        assert record_job_event(connection, job_id=job_id, event_type="open", **recorded)
        assert record_job_event(connection, job_id=job_id, event_type="click", **recorded | {"url": "u"})
        assert not record_job_event(connection, job_id=job_id + 99, event_type="open", **recorded)
        assert not record_job_event(
            connection, job_id=job_id, event_type="open", **recorded | {"shop": "other.myshopify.com"}
        )
        events = connection.execute(sa.select(tracking_events).order_by(tracking_events.c.id)).all()
    assert [(e.event_type, e.job_id, e.product_id) for e in events] == [
        ("product_viewed", None, None),
        ("open", job_id, "gid://shopify/Product/1001"),
        ("click", job_id, "gid://shopify/Product/1001"),
    ]
