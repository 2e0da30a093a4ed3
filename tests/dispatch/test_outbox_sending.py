"""Double opt-in confirmations go out through the dispatcher's lanes (contract 7), to the simulator's provider
fakes on loopback, before the lane's alerts."""

import sqlalchemy as sa
from seed_rows import NOW, SHOP, variant_row

from backinstock import consent
from backinstock.store import catalog, subscriptions
from backinstock.store.tables import outbox_messages, suppressions
from simulator.providers import Forced


def sign_up(delivery, email):
    with delivery.engine.begin() as connection:
        catalog.upsert_variants(connection, [variant_row(1)], NOW)
        return consent.sign_up(
            connection,
            delivery.settings,
            shop=SHOP,
            variant_id="gid://shopify/ProductVariant/1",
            product_id="gid://shopify/Product/1001",
            channel="email",
            contact=email,
            locale="en",
            client_id=None,
            consent=subscriptions.Consent(text="Tell me.", method="storefront_form"),
            now=NOW,
        )


def outbox_rows(delivery):
    with delivery.engine.connect() as connection:
        return connection.execute(sa.select(outbox_messages).order_by(outbox_messages.c.id)).all()


def test_a_confirmation_is_sent_once_through_the_lane_with_its_link(delivery):
    signed_up = sign_up(delivery, "ada@example.com")
    bodies = []
    front = delivery.fakes.hub.fronts["sendgrid"]
    original = front.handle
    front.handle = lambda account, request, now: (
        bodies.append(request.json()),
        original(account, request, now),
    )[1]
    first = delivery.run(lanes=["sendgrid"])
    again = delivery.run(lanes=["sendgrid"])
    assert (first.confirmations_sent, again.confirmations_sent) == (1, 0)
    [body] = bodies
    assert body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
    assert body["custom_args"]["kind"] == "confirmation"
    assert body["subject"] == "Please confirm your back-in-stock alert for Linen Shirt 1 (M / Blue)"
    text, html = (part["value"] for part in body["content"])
    assert (
        f"{delivery.storefront_url}/confirm/" in text and f'href="{delivery.storefront_url}/confirm/' in html
    )
    [row] = outbox_rows(delivery)
    [accepted] = delivery.account("sendgrid").accepted
    assert (row.status, row.provider_message_id, row.subscription_id) == (
        "sent",
        accepted.message_id,
        signed_up.subscription_id,
    )


def test_a_confirmation_no_longer_awaited_is_cancelled_unsent(delivery):
    signed_up = sign_up(delivery, "ada@example.com")
    with delivery.engine.begin() as connection:
        subscriptions.confirm(
            connection, signed_up.subscription_id, shop=SHOP, ip=None, user_agent=None, now=NOW
        )
    delivery.run(lanes=["sendgrid"])
    assert delivery.account("sendgrid").requests == []
    assert [row.status for row in outbox_rows(delivery)] == ["cancelled"]


def test_failures_are_retried_later_and_a_rejected_address_is_suppressed(delivery):
    sign_up(delivery, "ada@example.com")
    sign_up(delivery, "bad@example.com")
    account = delivery.account("sendgrid")
    account.forced.append(Forced(status=503, recipient="ada@example.com"))
    account.forced.append(Forced(status=400, recipient="bad@example.com"))
    delivery.run(lanes=["sendgrid"])
    first, second = outbox_rows(delivery)
    assert (first.status, first.due_at > NOW, first.attempt_count) == ("pending", True, 1)
    assert second.status == "failed"
    with delivery.engine.connect() as connection:
        reasons = connection.execute(sa.select(suppressions.c.contact, suppressions.c.reason)).all()
    assert reasons == [("bad@example.com", "invalid_address")]
    delivery.clock.set(first.due_at)
    delivery.run(lanes=["sendgrid"])
    assert [row.status for row in outbox_rows(delivery)] == ["sent", "failed"]
