from datetime import timedelta

import sqlalchemy as sa
from seed_rows import CONSENT, NOW, SHOP, signup

from backinstock.store import outbox, subscriptions, suppressions
from backinstock.store.tables import subscriptions as subscriptions_table
from backinstock.store.tables import suppressions as suppressions_table


def _subscribe(
    connection, contact, variant="gid://shopify/ProductVariant/1", now=NOW, consent=CONSENT, confirm_by=None
):
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
        confirm_by=confirm_by,
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


def test_a_signup_never_lifts_a_suppression_only_the_persons_confirmation_does(store_engine):
    with store_engine.begin() as connection:
        signup(connection, "ada@example.com")
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="test", now=NOW
        )
        again = _subscribe(
            connection, "ada@example.com", now=NOW + timedelta(hours=1), confirm_by=NOW + timedelta(hours=73)
        )

        def reason():
            return suppressions.suppression_reason(
                connection, shop=SHOP, channel="email", contact="ada@example.com"
            )

        assert (again.status, reason()) == ("pending", "unsubscribed")
        outcome = subscriptions.confirm(
            connection,
            again.subscription_id,
            shop=SHOP,
            ip="10.0.0.2",
            user_agent="UA",
            now=NOW + timedelta(hours=2),
        )
        assert (outcome, reason()) == ("confirmed", None)
        confirmed = subscriptions.get_subscription(connection, again.subscription_id)
        assert (confirmed["status"], confirmed["confirmed_at"], confirmed["confirmed_ip"]) == (
            "active",
            NOW + timedelta(hours=2),
            "10.0.0.2",
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
        bounced = _subscribe(connection, "bob@example.com", confirm_by=NOW + timedelta(hours=72))
        subscriptions.confirm(
            connection, bounced.subscription_id, shop=SHOP, ip=None, user_agent=None, now=NOW
        )
        kept = suppressions.suppression_reason(
            connection, shop=SHOP, channel="email", contact="bob@example.com"
        )
    assert kept == "hard_bounce"


def test_confirmation_outcomes_and_the_purge_of_expired_pending_signups(store_engine):
    deadline = NOW + timedelta(hours=72)
    with store_engine.begin() as connection:
        pending = _subscribe(connection, "ada@example.com", confirm_by=deadline)
        again = _subscribe(connection, "ADA@example.com", now=NOW + timedelta(hours=1), confirm_by=deadline)
        assert (pending.status, pending.created, again.created) == ("pending", True, False)
        assert again.subscription_id == pending.subscription_id  # one live alert, pending included

        def confirm(subscription_id, at, shop=SHOP):
            return subscriptions.confirm(
                connection, subscription_id, shop=shop, ip=None, user_agent=None, now=at
            )

        assert confirm(pending.subscription_id, deadline) == "expired"  # the deadline itself is too late
        assert confirm(pending.subscription_id, NOW, shop="other.myshopify.com") == "gone"
        assert confirm(999, NOW) == "gone"
        late = _subscribe(connection, "late@example.com", confirm_by=deadline)
        assert confirm(late.subscription_id, deadline - timedelta(seconds=1)) == "confirmed"
        assert confirm(late.subscription_id, deadline) == "already_confirmed"
        cancelled = _subscribe(connection, "gone@example.com", confirm_by=deadline)
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="gone@example.com", source="t", now=NOW
        )
        assert confirm(cancelled.subscription_id, NOW) == "gone"

        assert subscriptions.purge_expired_pending(connection, deadline - timedelta(seconds=1)) == 0
        assert subscriptions.purge_expired_pending(connection, deadline) == 1
        assert subscriptions.get_subscription(connection, pending.subscription_id) is None
        # An expired pending signup does not block a new one for the same alert.
        fresh = _subscribe(
            connection,
            "ada@example.com",
            now=deadline + timedelta(hours=1),
            confirm_by=deadline + timedelta(hours=73),
        )
        assert fresh.created and fresh.status == "pending"


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


def test_a_signup_replaces_the_same_alerts_expired_pending_one_that_no_purge_removed_yet(store_engine):
    deadline = NOW + timedelta(hours=72)
    with store_engine.begin() as connection:
        expired = _subscribe(connection, "ada@example.com", confirm_by=deadline)
        outbox.enqueue(
            connection,
            shop=SHOP,
            kind=outbox.CONFIRMATION,
            channel="email",
            contact="ada@example.com",
            locale="en",
            subscription_id=expired.subscription_id,
            now=NOW,
        )
        waiting = _subscribe(connection, "ada@example.com", now=deadline - timedelta(seconds=1))
        assert (waiting.created, waiting.subscription_id) == (False, expired.subscription_id)
        renewed = deadline + timedelta(hours=72)
        fresh = _subscribe(connection, "ada@example.com", now=deadline, confirm_by=renewed)
        assert fresh.created and fresh.status == "pending"
        assert subscriptions.get_subscription(connection, fresh.subscription_id)["confirm_by"] == renewed
        rows = connection.execute(sa.select(sa.func.count()).select_from(subscriptions_table)).scalar_one()
        assert rows == 1  # the expired one is gone (SQLite may give the new one its id)
        assert outbox.last_created_at(connection, expired.subscription_id, outbox.CONFIRMATION) is None
