from datetime import timedelta

import sqlalchemy as sa
from seed_rows import CONSENT, NOW, SHOP, signup

from backinstock.store import subscriptions, suppressions
from backinstock.store.tables import subscriptions as subscriptions_table
from backinstock.store.tables import suppressions as suppressions_table


def _subscribe(connection, contact, variant="gid://shopify/ProductVariant/1", now=NOW, consent=CONSENT):
    return subscriptions.subscribe(
        connection,
        shop=SHOP,
        variant_id=variant,
        product_id="gid://shopify/Product/1001",
        channel="email",
        contact=contact,
        locale="en",
        client_id="client-1",
        consent=consent,
        now=now,
    )


def test_subscribe_is_idempotent_per_contact_normalised(store_engine):
    consent = subscriptions.Consent(
        text="Notify me", method="storefront_form", source="https://shop/p", ip="10.0.0.1", user_agent="UA"
    )
    with store_engine.begin() as connection:
        first = _subscribe(connection, "  Ada@Example.COM ", consent=consent)
        again = _subscribe(connection, "ada@example.com", now=NOW + timedelta(hours=1))
        other_variant = _subscribe(connection, "ada@example.com", variant="gid://shopify/ProductVariant/2")
        stored = subscriptions.get_subscription(connection, first.subscription_id)
    assert first.created and not again.created and other_variant.created
    assert again.subscription_id == first.subscription_id != other_variant.subscription_id
    assert stored["contact"] == "ada@example.com"
    assert stored["status"] == "active"
    assert (stored["consent_text"], stored["consent_method"], stored["consent_source"]) == (
        "Notify me",
        "storefront_form",
        "https://shop/p",
    )
    assert (stored["consent_ip"], stored["consent_user_agent"], stored["consent_at"]) == (
        "10.0.0.1",
        "UA",
        NOW,
    )


def test_unsubscribe_cancels_every_active_alert_of_the_contact_and_suppresses(store_engine):
    later = NOW + timedelta(days=1)
    with store_engine.begin() as connection:
        mine = [signup(connection, "ada@example.com", variant=number) for number in (1, 2)]
        theirs = signup(connection, "bob@example.com", variant=1)
        cancelled = subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ADA@example.com", source="test", now=later
        )
        rows = {row.id: row for row in connection.execute(sa.select(subscriptions_table))}
        reason = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="ada@example.com"
        )
    assert cancelled == 2
    assert [(rows[i].status, rows[i].unsubscribed_at) for i in mine] == [("unsubscribed", later)] * 2
    assert rows[theirs].status == "active"
    assert reason == "unsubscribed"


def test_fresh_signup_lifts_an_unsubscribed_suppression_but_not_a_bounce(store_engine):
    with store_engine.begin() as connection:
        signup(connection, "ada@example.com")
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="test", now=NOW
        )
        again = signup(connection, "ada@example.com", now=NOW + timedelta(hours=1))
        lifted = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="ada@example.com"
        )
        suppressions.suppress(
            connection,
            shop=SHOP,
            channel="email",
            contact="bob@example.com",
            reason="hard_bounce",
            source="t",
            now=NOW,
        )
        signup(connection, "bob@example.com")
        kept = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="bob@example.com"
        )
        statuses = connection.execute(
            sa.select(subscriptions_table.c.status).where(subscriptions_table.c.contact == "ada@example.com")
        ).scalars()
        assert sorted(statuses) == ["active", "unsubscribed"]
        assert subscriptions.get_subscription(connection, again)["status"] == "active"
    assert lifted is None
    assert kept == "hard_bounce"


def test_suppress_keeps_the_first_reason(store_engine):
    with store_engine.begin() as connection:
        first = dict(shop=SHOP, channel="email", contact="ada@example.com", source=None, now=NOW)
        assert suppressions.suppress(connection, reason="hard_bounce", **first)
        assert not suppressions.suppress(connection, reason="unsubscribed", **first)
        assert connection.execute(sa.select(suppressions_table.c.reason)).scalars().all() == ["hard_bounce"]


def test_mark_notified_only_moves_active_subscriptions(store_engine):
    with store_engine.begin() as connection:
        active = signup(connection, "ada@example.com")
        gone = signup(connection, "bob@example.com")
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="bob@example.com", source="t", now=NOW
        )
        for subscription_id in (active, gone):
            subscriptions.mark_notified(connection, [subscription_id], NOW)
        assert subscriptions.get_subscription(connection, active)["status"] == "notified"
        assert subscriptions.get_subscription(connection, active)["notified_at"] == NOW
        assert subscriptions.get_subscription(connection, gone)["status"] == "unsubscribed"
