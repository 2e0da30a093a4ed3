from datetime import timedelta

import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, variant_row

from backinstock import consent, tokens
from backinstock.settings import load_settings
from backinstock.store import audit, catalog, consent_texts, outbox, subscriptions, suppressions
from backinstock.store.tables import outbox_messages
from backinstock.store.tables import subscriptions as subscriptions_table

CONSENT = subscriptions.Consent(text="Tell me.", method="storefront_form")


def settings(double_opt_in=True):
    return load_settings(
        secret_key="k" * 32,
        storefront_url="https://alerts.example.test",
        shops=[{"domain": SHOP, "double_opt_in": double_opt_in}],
        email={"from_name": "Test Shop"},
    )


def sign_up(connection, contact, configured, now=NOW, variant=1):
    catalog.upsert_variants(connection, [variant_row(variant)], now)
    return consent.sign_up(
        connection,
        configured,
        shop=SHOP,
        variant_id=f"gid://shopify/ProductVariant/{variant}",
        product_id=f"gid://shopify/Product/{1000 + variant}",
        channel="email",
        contact=contact,
        locale="de-DE",
        client_id=None,
        consent=CONSENT,
        now=now,
    )


def messages(connection):
    return connection.execute(sa.select(outbox_messages).order_by(outbox_messages.c.id)).all()


def test_double_opt_in_writes_a_pending_signup_and_its_confirmation_in_one_go(store_engine):
    configured = settings()
    with store_engine.begin() as connection:
        first = sign_up(connection, "Ada@Example.com", configured)
        soon = sign_up(connection, "ada@example.com", configured, now=NOW + timedelta(minutes=5))
        later = sign_up(connection, "ada@example.com", configured, now=NOW + timedelta(minutes=11))
        row = subscriptions.get_subscription(connection, first.subscription_id)
        sent = messages(connection)
    assert first.status == "pending" and first.created and not soon.created
    assert row["confirm_by"] == NOW + timedelta(hours=72) and row["confirmed_at"] is None
    # A resend at most every 10 minutes while the signup waits.
    assert [(m.kind, m.status, m.contact, m.locale, m.subscription_id) for m in sent] == [
        ("confirmation", "pending", "ada@example.com", "de-DE", first.subscription_id)
    ] * 2
    assert later.subscription_id == first.subscription_id


def test_without_double_opt_in_a_signup_is_active_at_once_unless_the_contact_opted_out(store_engine):
    configured = settings(double_opt_in=False)
    with store_engine.begin() as connection:
        plain = sign_up(connection, "ada@example.com", configured)
        signup(connection, "bob@example.com", variant=2)
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="bob@example.com", source="t", now=NOW
        )
        back = sign_up(connection, "bob@example.com", configured, now=NOW + timedelta(hours=1))
        suppressions.suppress(
            connection,
            shop=SHOP,
            channel="email",
            contact="eve@example.com",
            reason="complaint",
            source="t",
            now=NOW,
        )
        complained = sign_up(connection, "eve@example.com", configured)
        rows = connection.execute(
            sa.select(subscriptions_table.c.contact, subscriptions_table.c.status)
        ).all()
        sent = messages(connection)
    assert plain.status == "active"
    assert back.status == "pending"  # the opt-out stands until the person confirms
    assert complained is None
    assert ("eve@example.com", "pending") not in rows and all(
        contact != "eve@example.com" for contact, _ in rows
    )
    assert [m.contact for m in sent] == ["bob@example.com"]


def test_the_confirmation_message_carries_a_signed_expiring_link(store_engine):
    configured = settings()
    with store_engine.begin() as connection:
        signed_up = sign_up(connection, "ada@example.com", configured)
        [claimed] = outbox.claim_due(
            connection, channel="email", worker_id="w", lease_seconds=60, now=NOW, limit=10
        )
        message = consent.confirmation_message(connection, configured, claimed, NOW)
    assert message.to == "ada@example.com" and message.channel == "email"
    assert message.subject == "Bitte bestätigen Sie Ihre Benachrichtigung für Linen Shirt 1 (M / Blue)"
    assert message.custom_args == {
        "kind": "confirmation",
        "outbox_id": str(claimed.id),
        "shop": SHOP,
        "variant_id": "gid://shopify/ProductVariant/1",
    }
    confirm_url = next(word for word in message.text.split() if "/confirm/" in word)
    assert f'href="{confirm_url}"' in message.html and "/p/" in message.html
    token = confirm_url.rsplit("/", 1)[1]
    claims = tokens.verify(configured.token_keys, tokens.CONFIRM, token, now=NOW)
    assert (claims.shop, claims.number, claims.expires_at) == (
        SHOP,
        signed_up.subscription_id,
        NOW + timedelta(hours=72),
    )


def test_a_confirmation_no_longer_awaited_is_not_composed(store_engine):
    configured = settings()
    with store_engine.begin() as connection:
        signed_up = sign_up(connection, "ada@example.com", configured)
        [claimed] = outbox.claim_due(
            connection, channel="email", worker_id="w", lease_seconds=60, now=NOW, limit=1
        )
        subscriptions.confirm(
            connection, signed_up.subscription_id, shop=SHOP, ip=None, user_agent=None, now=NOW
        )
        assert consent.confirmation_message(connection, configured, claimed, NOW) is None
        other = sign_up(connection, "bob@example.com", configured)
        assert other.status == "pending"
        expired_at = NOW + timedelta(hours=72)
        [bobs] = outbox.claim_due(
            connection, channel="email", worker_id="w", lease_seconds=60, now=NOW, limit=1
        )
        assert consent.confirmation_message(connection, configured, bobs, expired_at) is None


def test_outbox_claims_once_settles_by_lease_owner_and_recovers_lost_leases(store_engine):
    configured = settings()
    with store_engine.begin() as connection:
        for number in range(3):
            sign_up(connection, f"p{number}@example.com", configured)
        first = outbox.claim_due(
            connection, channel="email", worker_id="a", lease_seconds=60, now=NOW, limit=2
        )
        second = outbox.claim_due(
            connection, channel="email", worker_id="b", lease_seconds=60, now=NOW, limit=5
        )
        assert [len(first), len(second)] == [2, 1]
        assert not outbox.mark_sent(connection, first[0], worker_id="b", provider_message_id="x", now=NOW)
        assert outbox.mark_sent(connection, first[0], worker_id="a", provider_message_id="m-1", now=NOW)
        later = NOW + timedelta(minutes=5)
        assert outbox.retry_later(connection, first[1], worker_id="a", due_at=later, error="503", now=NOW)
        assert (
            outbox.claim_due(connection, channel="email", worker_id="a", lease_seconds=60, now=NOW, limit=5)
            == []
        )
        # b vanished mid-call: its message is due again once the lease has expired
        assert outbox.recover_expired_leases(connection, NOW + timedelta(seconds=61)) == 1
        again = outbox.claim_due(
            connection, channel="email", worker_id="c", lease_seconds=60, now=later, limit=5
        )
        assert sorted(message.id for message in again) == sorted([first[1].id, second[0].id])
        assert {message.attempt_count for message in again} == {2}
        statuses = [row.status for row in messages(connection)]
    assert statuses == ["sent", "sending", "sending"]


def test_unsubscribing_cancels_a_pending_signup_and_its_unsent_confirmation(store_engine):
    configured = settings()
    with store_engine.begin() as connection:
        pending = sign_up(connection, "ada@example.com", configured)
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="t", now=NOW
        )
        row = subscriptions.get_subscription(connection, pending.subscription_id)
        [message] = messages(connection)
    assert row["status"] == "unsubscribed" and message.status == "cancelled"


def test_consent_texts_are_versioned_on_the_server(store_engine):
    with store_engine.begin() as connection:
        shipped = consent_texts.current_text(connection, shop=SHOP, channel="email", locale="de-AT", now=NOW)
        assert (shipped.locale, shipped.text) == ("de", consent_texts.SHIPPED[("email", "de")])
        assert (
            consent_texts.current_text(connection, shop=SHOP, channel="email", locale="de", now=NOW)
            == shipped
        )
        french = consent_texts.current_text(connection, shop=SHOP, channel="email", locale="fr", now=NOW)
        assert french.locale == "en"
        version = consent_texts.publish_text(
            connection,
            shop=SHOP,
            channel="email",
            locale="fr",
            text="Prévenez-moi une fois.",
            actor="ops@example.com",
            source="cli",
            now=NOW,
        )
        assert (
            consent_texts.current_text(
                connection, shop=SHOP, channel="email", locale="fr-CA", now=NOW
            ).version_id
            == version
        )
        assert consent_texts.text_by_version(
            connection, shop=SHOP, channel="email", version_id=version
        ).text == ("Prévenez-moi une fois.")
        assert (
            consent_texts.text_by_version(
                connection, shop="other.myshopify.com", channel="email", version_id=version
            )
            is None
        )
        assert consent_texts.text_by_version(connection, shop=SHOP, channel="sms", version_id=version) is None
        [entry] = audit.entries(connection, action="consent_text.publish")
    assert (entry["actor"], entry["target_id"], entry["details"]["after"]["version_id"]) == (
        "ops@example.com",
        f"{SHOP}/email/fr",
        version,
    )
