"""Shopify's privacy webhooks acted on through the real storefront, and retention; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for
from sf_helpers import shopify_headers, stored_rows

from backinstock import cli, privacy
from backinstock.settings import Settings
from backinstock.store import jobs, tracking
from backinstock.store.inbox import store_webhook
from backinstock.store.tables import (
    metadata,
    notification_jobs,
    privacy_requests,
    provider_events,
    shop_installations,
    subscriptions,
    tracking_events,
    webhook_inbox,
)
from dispatch.eligibility import ineligible
from orchestration.defs.privacy.redaction import apply_ledger, strip_tracking_details
from orchestration.warehouse import (
    connect,
    copy_store_rows,
    ensure_raw_schema,
    naive_utc,
    store_rows_to_copy,
    transaction,
)

ADA, BOB = "Ada@Example.com", "bob@example.com"
COPIED = (notification_jobs, tracking_events)
PERSON = {"id": 191167, "email": ADA, "phone": None}
ORDER = {"id": 299938, "admin_graphql_api_id": "gid://shopify/Order/299938", "email": ADA}


def send(storefront, topic, payload, webhook_id="privacy-1"):
    body = json.dumps(payload).encode()
    headers = shopify_headers(body, X_Shopify_Topic=topic, X_Shopify_Webhook_Id=webhook_id)
    return storefront.client.post("/webhooks/shopify", content=body, headers=headers)


def seed(engine):
    """Ada: two alerts, one answered by a job she opened; Bob: one alert; an order webhook naming Ada and an
    inventory webhook."""
    with engine.begin() as connection:
        ada = [signup(connection, "ada@example.com"), signup(connection, "ada@example.com", variant=2)]
        bob = signup(connection, BOB)
        jobs.enqueue_targets(connection, [target_for(connection, ada[0]), target_for(connection, bob)], NOW)
        job_id = connection.execute(
            sa.select(notification_jobs.c.id).where(notification_jobs.c.subscription_id == ada[0])
        ).scalar_one()
        tracking.record_job_event(
            connection,
            job_id=job_id,
            shop=SHOP,
            event_type=tracking.OPEN,
            url=None,
            user_agent="Ada's phone",
            now=NOW,
        )
        connection.execute(
            sa.insert(provider_events).values(
                lane="email", provider="sendgrid", event_type="delivered", job_id=job_id,
                recipient="ada@example.com", occurred_at=NOW, received_at=NOW, dedupe_key="sg-1",
                payload=json.dumps([{"email": "ada@example.com", "event": "delivered"}]),
            )
        )  # fmt: skip
        for webhook_id, topic, payload in (
            ("order-1", "orders/create", ORDER),
            ("inventory-1", "inventory_levels/update", {"inventory_item_id": 1, "available": 3}),
        ):
            store_webhook(
                connection,
                shop=SHOP,
                topic=topic,
                webhook_id=webhook_id,
                event_id=None,
                api_version="2026-10",
                triggered_at=NOW,
                payload=json.dumps(payload),
                now=NOW,
            )
    return ada, bob, job_id


def mentions(engine, needle: str) -> dict[str, int]:
    """Rows of every table with any text column holding `needle` (case-insensitive)."""
    found = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            texts = [c for c in table.c if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
            if not texts:
                continue
            condition = sa.or_(*(sa.func.lower(sa.cast(c, sa.Text)).contains(needle.lower()) for c in texts))
            count = connection.execute(
                sa.select(sa.func.count()).select_from(table).where(condition)
            ).scalar()
            if count:
                found[table.name] = count
    return found


def test_a_data_request_gives_the_merchant_the_persons_data_as_json(storefront, store_engine):
    ada, _bob, job_id = seed(store_engine)
    payload = {
        "shop_domain": SHOP,
        "customer": PERSON,
        "orders_requested": [299938],
        "data_request": {"id": 9999},
    }
    answer = send(storefront, "customers/data_request", payload)
    assert answer.status_code == 200 and answer.json() == {"stored": True}
    assert send(storefront, "customers/data_request", payload).json() == {"stored": False}  # redelivery

    with store_engine.connect() as connection:
        [request] = privacy.exports(connection, SHOP)
        inbox_topics = set(connection.execute(sa.select(webhook_inbox.c.topic)).scalars())
    export = request["export"]
    assert sorted(s["id"] for s in export["subscriptions"]) == ada
    assert {s["contact"] for s in export["subscriptions"]} == {"ada@example.com"}
    assert export["subscriptions"][0]["consent_text"] == "Tell me when it is back."
    assert [n["id"] for n in export["notifications"]] == [job_id]
    assert [(e["event_type"], e["user_agent"]) for e in export["opens_and_clicks"]] == [
        ("open", "Ada's phone")
    ]
    assert (request["shopify_request_id"], request["completed_at"]) == ("9999", NOW)
    assert request["order_ids"] == ["gid://shopify/Order/299938"]
    assert "ada" not in json.dumps(request["contact_digests"])  # keyed digests, not the contact
    assert "customers/data_request" not in inbox_topics  # the body (personal data) is not kept raw


def test_a_redaction_erases_the_person_from_the_store_and_keeps_the_rows(storefront, store_engine):
    ada, _bob, _job_id = seed(store_engine)
    rows_before = stored_rows(store_engine)
    payload = {"shop_domain": SHOP, "customer": PERSON, "orders_to_redact": [299938]}
    assert send(storefront, "customers/redact", payload).status_code == 200

    assert mentions(store_engine, "ada@example.com") == {}
    assert mentions(store_engine, "Ada's phone") == {}
    assert mentions(store_engine, BOB) == {"subscriptions": 1, "notification_jobs": 1}
    rows_after = stored_rows(store_engine)
    assert rows_after["subscriptions"] == rows_before["subscriptions"]  # counted signups stay counted
    assert rows_after["notification_jobs"] == rows_before["notification_jobs"]
    assert rows_after["webhook_inbox"] == rows_before["webhook_inbox"] - 1  # the order's webhook is gone
    with store_engine.connect() as connection:
        alerts = (
            connection.execute(sa.select(subscriptions).where(subscriptions.c.id.in_(ada))).mappings().all()
        )
        [request] = connection.execute(sa.select(privacy_requests)).mappings().all()
    expected = privacy.pseudonym(privacy.salt(storefront.settings), SHOP, ADA)
    assert {(a["contact"], a["status"], a["consent_ip"]) for a in alerts} == {
        (expected, "unsubscribed", None)
    }
    assert expected.endswith("@redacted.invalid") and request["summary"]["subscriptions"] == 2
    assert request["contact_digests"] == [privacy.digest(privacy.salt(storefront.settings), SHOP, ADA)]


def test_privacy_webhooks_that_are_not_shopifys_shape_are_refused_and_store_nothing(storefront, store_engine):
    before = stored_rows(store_engine)
    for payload in (
        {"shop_domain": SHOP},
        {"customer": {"email": 7}},
        {"customer": PERSON, "orders_to_redact": "x"},
    ):
        answer = send(storefront, "customers/redact", payload)
        assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "body"
    assert stored_rows(store_engine) == before


def test_an_uninstalled_shop_gets_nothing_sent_and_is_erased_when_due(storefront, store_engine):
    seed(store_engine)
    assert (
        send(storefront, "app/uninstalled", {"id": 548380009, "email": "owner@shop.example"}).status_code
        == 200
    )
    with store_engine.begin() as connection:
        statuses = set(
            connection.execute(sa.select(notification_jobs.c.status, notification_jobs.c.last_error))
        )
        assert statuses == {("skipped", privacy.UNINSTALLED)}
        # a job enqueued later (a cycle that still ran) is refused at send time
        late = signup(connection, "late@example.com", variant=3)
        jobs.enqueue_targets(connection, [target_for(connection, late, restock_event_id="restock-2")], NOW)
        claimed = jobs.claim(
            connection, lane="email", channel="email", worker_id="w", lease_seconds=30, now=NOW, limit=10
        )
        assert set(ineligible(connection, claimed).values()) == {privacy.UNINSTALLED}
        assert (
            privacy.apply_retention(connection, storefront.settings, NOW + timedelta(hours=47))[
                "shops_erased"
            ]
            == 0
        )
        assert (
            privacy.apply_retention(connection, storefront.settings, NOW + timedelta(hours=49))[
                "shops_erased"
            ]
            == 1
        )
        installation = connection.execute(sa.select(shop_installations)).mappings().one()
    rows = stored_rows(store_engine)
    assert (
        rows["subscriptions"]
        == rows["notification_jobs"]
        == rows["tracking_events"]
        == rows["webhook_inbox"]
        == 0
    )
    assert installation["erased_at"] == NOW + timedelta(hours=49)
    assert mentions(store_engine, "owner@shop.example") == {}


def test_shop_redact_erases_the_shop_at_once(storefront, store_engine):
    seed(store_engine)
    assert send(storefront, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP}).status_code == 200
    rows = stored_rows(store_engine)
    assert rows["subscriptions"] == rows["suppressions"] == rows["catalog_variants"] == 0
    assert rows["privacy_requests"] == 1  # the ledger stays: the warehouse step erases the shop there too


def test_retention_pseudonymises_ended_alerts_and_prunes_old_events(settings, store_engine):
    ada, bob, _job_id = seed(store_engine)
    later = NOW + timedelta(days=366)
    with store_engine.begin() as connection:
        connection.execute(
            sa.update(subscriptions)
            .where(subscriptions.c.id == ada[0])
            .values(status="notified", notified_at=NOW)
        )
        summary = privacy.apply_retention(connection, settings, later)
        contacts = dict(connection.execute(sa.select(subscriptions.c.id, subscriptions.c.contact)).all())
        left = connection.execute(sa.select(sa.func.count()).select_from(tracking_events)).scalar()
        inbox = connection.execute(sa.select(sa.func.count()).select_from(webhook_inbox)).scalar()
    assert summary["contacts_anonymised"] == 1
    assert contacts[ada[0]] == privacy.pseudonym(privacy.salt(settings), SHOP, "ada@example.com")
    assert contacts[ada[1]] == "ada@example.com" and contacts[bob] == BOB  # still waiting: kept
    assert (left, inbox) == (0, 0)


def test_a_redaction_still_reaches_the_warehouse_after_the_signing_key_is_rotated(settings, store_engine):
    """The ledger's digests are keyed by a key that does not rotate with secret_key: after a rotation, an
    order re-read into the warehouse still loses the redacted person's email."""
    with store_engine.begin() as connection:
        privacy.receive(
            connection,
            settings,
            shop=SHOP,
            topic="customers/redact",
            webhook_id="redact-1",
            payload={"shop_domain": SHOP, "customer": PERSON, "orders_to_redact": []},
            now=NOW,
        )
    rotated = Settings(
        data_dir=settings.data_dir, secret_key="rotated-key", previous_secret_keys=[settings.secret_key]
    )
    assert rotated.signing_key != settings.signing_key
    with store_engine.connect() as connection:
        ledger = privacy.ledger(connection)
    warehouse = duckdb.connect()
    warehouse.execute("CREATE SCHEMA raw_shopify")
    warehouse.execute("CREATE TABLE raw_shopify.orders (shop VARCHAR, order_id VARCHAR, email VARCHAR)")
    warehouse.execute(
        "INSERT INTO raw_shopify.orders VALUES (?, 'o-1', ?), (?, 'o-2', ?)",
        [SHOP, " ADA@example.com", SHOP, BOB],
    )

    summary = apply_ledger(warehouse, ledger, privacy.salt(rotated))

    emails = sorted(row[0] for row in warehouse.execute("SELECT email FROM raw_shopify.orders").fetchall())
    assert summary["contacts_pseudonymised"] == 1
    assert emails == sorted([BOB, privacy.pseudonym(privacy.salt(settings), SHOP, ADA)])


def test_the_warehouse_keeps_tracking_events_the_store_pruned_without_what_identifies_a_device(
    settings, store_engine, tmp_path
):
    """KPIs of old days keep their views, opens and clicks after the store's retention deleted the events:
    the warehouse's copy is appended, and strips the user agent and URL of old events and of a redacted
    person's (their client id stays: the KPIs count distinct viewers by it)."""
    seed(store_engine)  # Ada's open at NOW, from "Ada's phone"
    settings = settings.model_copy(
        update={"privacy": settings.privacy.model_copy(update={"events_retention_days": 5})}
    )
    with store_engine.begin() as connection:
        for client, user_agent, days in (("old-client", "Old browser", 10), ("new-client", "New browser", 1)):
            connection.execute(
                sa.insert(tracking_events).values(
                    shop=SHOP, event_type="product_viewed", occurred_at=NOW - timedelta(days=days),
                    variant_id="gid://shopify/ProductVariant/1", client_id=client,
                    url="https://shop.example/products/1", user_agent=user_agent,
                )
            )  # fmt: skip

    def copy(at):
        with store_engine.connect() as store:
            rows = {table: store_rows_to_copy(store, warehouse, table) for table in COPIED}
        with transaction(warehouse):
            for table in COPIED:
                copy_store_rows(warehouse, table, rows[table], at)

    with connect(tmp_path / "warehouse.duckdb") as warehouse:
        ensure_raw_schema(warehouse)
        copy(NOW)
        payload = {"shop_domain": SHOP, "customer": PERSON, "orders_to_redact": []}
        with store_engine.begin() as connection:
            privacy.receive(
                connection, settings, shop=SHOP, topic="customers/redact", webhook_id="r-1", payload=payload,
                now=NOW,
            )  # fmt: skip
            deleted = privacy.apply_retention(connection, settings, NOW)["tracking_events_deleted"]
        copy(NOW + timedelta(minutes=1))
        stripped = strip_tracking_details(warehouse, naive_utc(NOW - timedelta(days=5)))
        kept = warehouse.execute(
            "SELECT event_type, client_id, user_agent, url FROM raw_app.tracking_events ORDER BY occurred_at"
        ).fetchall()
    assert (deleted, stripped) == (1, 2)
    assert kept == [
        ("product_viewed", "old-client", None, None),
        ("product_viewed", "new-client", "New browser", "https://shop.example/products/1"),
        ("open", None, None, None),
    ]


def test_pseudonyms_survive_the_models_normalisation():
    secret = "s"
    email, phone = (
        privacy.pseudonym(secret, SHOP, " Ada@Example.com "),
        privacy.pseudonym(secret, SHOP, "+49 170 1234"),
    )
    assert email == privacy.pseudonym(secret, SHOP, "ada@example.com") and email == email.strip().lower()
    assert phone.startswith("+999") and phone[1:].isdigit()
    assert phone == privacy.pseudonym(secret, SHOP, "+491701234")


def test_the_merchant_gets_the_export_from_the_command_line(
    storefront, store_engine, monkeypatch, capsys, tmp_path
):
    ada, _bob, _job_id = seed(store_engine)
    payload = {"customer": PERSON, "orders_requested": [], "data_request": {"id": 4242}}
    assert send(storefront, "customers/data_request", payload).status_code == 200
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(tmp_path / "empty.toml"))
    monkeypatch.setenv("BACKINSTOCK_STORE_URL", storefront.settings.store_url)
    monkeypatch.setenv("BACKINSTOCK_DATA_DIR", str(storefront.settings.data_dir))
    capsys.readouterr()
    assert cli.main(["privacy", "exports", "--shop", SHOP]) == 0
    [printed] = json.loads(capsys.readouterr().out)
    assert printed["shopify_request_id"] == "4242"
    assert sorted(s["id"] for s in printed["export"]["subscriptions"]) == ada


def test_a_shop_installed_again_after_its_erasure_keeps_its_new_data(settings, store_engine):
    """The erasure covers what the shop had up to it: once the shop installs the app again, the ledger no
    longer erases it in the warehouse (nor re-applies its customer redactions from before the erasure);
    an uninstall of the new installation is erased again when due."""

    def receive(connection, topic, payload, at):
        return privacy.receive(
            connection, settings, shop=SHOP, topic=topic, webhook_id=f"{topic}-{at}", payload=payload, now=at
        )

    erased_at, reinstalled_at = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    with store_engine.begin() as connection:
        redact = {"shop_domain": SHOP, "customer": PERSON, "orders_to_redact": []}
        receive(connection, "customers/redact", redact, NOW)
        receive(connection, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP}, erased_at)
        assert privacy.installation_states(connection, [SHOP]) == {SHOP: privacy.ERASED_STATE}
        assert privacy.uninstalled_shops(connection, [SHOP]) == {SHOP}  # nothing sent, no signups
        assert privacy.ledger(connection)["erased_shops"] == {SHOP}

        assert privacy.reinstall(connection, shop=SHOP, now=reinstalled_at) is not None
        ledger = privacy.ledger(connection)
        assert privacy.installation_states(connection, [SHOP]) == {}
        assert privacy.erasures(connection, [SHOP]) == {SHOP: erased_at}
    assert ledger == {"redactions": {}, "erased_shops": set()}
    warehouse = duckdb.connect()
    warehouse.execute("CREATE SCHEMA raw_shopify")
    warehouse.execute("CREATE TABLE raw_shopify.orders (shop VARCHAR, order_id VARCHAR, email VARCHAR)")
    warehouse.execute("INSERT INTO raw_shopify.orders VALUES (?, 'o-new', ?)", [SHOP, ADA])
    apply_ledger(warehouse, ledger, privacy.salt(settings))
    assert warehouse.execute("SELECT order_id, email FROM raw_shopify.orders").fetchall() == [("o-new", ADA)]

    uninstalled_at = NOW + timedelta(days=1)
    with store_engine.begin() as connection:
        receive(connection, "app/uninstalled", {"id": 954889, "domain": SHOP}, uninstalled_at)
        assert privacy.installation_states(connection, [SHOP]) == {SHOP: privacy.UNINSTALLED_STATE}
        assert privacy.ledger(connection)["erased_shops"] == set()  # not yet: the erasure is not due
        later = uninstalled_at + timedelta(hours=49)
        assert privacy.apply_retention(connection, settings, later)["shops_erased"] == 1
        assert privacy.ledger(connection)["erased_shops"] == {SHOP}
        assert privacy.erasures(connection, [SHOP]) == {SHOP: later}
