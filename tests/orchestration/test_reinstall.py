"""A merchant uninstalls the app and installs it again (the simulator revokes the token and sends
`app/uninstalled`, then answers again). Before the erasure: while uninstalled the alerts path keeps running
(the 401 leaves the shop out, nothing is sent); once Shopify answers again the shop is back, and the alert
the uninstall stopped goes out. After the erasure (`shop/redact`): the new installation starts afresh, its
data ingested and kept, nothing from before the erasure back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from backinstock import privacy
from backinstock.clock import format_instant, parse_instant
from backinstock.settings import load_settings
from backinstock.store import tables
from dispatch.worker import run as run_dispatcher
from orchestration.common import store_engine
from orchestration.demo import DEMO_SHOP, DemoPlan, DemoWorld
from orchestration.jobs import run_config
from orchestration.warehouse import connect
from tests.orchestration.launching import advance_to, open_the_store

pytestmark = pytest.mark.e2e

CONTACT = "returning.merchant@example.com"
DEBOUNCE = timedelta(minutes=5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    plan = DemoPlan(
        data_dir=tmp_path_factory.mktemp("reinstall") / "data",
        scenario="small",
        seed=11,
        days=2,
        holdout_share=0.0,
        settings={"detection": {"debounce_minutes": 5, "cooldown_hours": 0}},
        shop_settings={"double_opt_in": False},
    )
    with DemoWorld(plan) as world:
        open_the_store(world)
        yield world


def _alerts(world, as_of, job: str = "alerts") -> dg.ExecuteInProcessResult:
    from orchestration.definitions import defs

    advance_to(world, as_of)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job).execute_in_process(
            run_config=run_config(format_instant(as_of), str(world.config_file)), instance=instance
        )
    assert result.success
    return result


def _post(world, path: str, body: dict) -> dict:
    answer = world.http.post(f"{world.simulator_url}{path}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _shops_not_read(result: dg.ExecuteInProcessResult) -> str | None:
    [shops] = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key.to_user_string() == "raw_shopify/shops"
    ]
    entry = shops.metadata.get("shops_not_read")
    return None if entry is None else entry.value


def _job(engine) -> dict:
    jobs = tables.notification_jobs
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(jobs).where(jobs.c.contact == CONTACT)).mappings().one())


def _installation(engine) -> dict:
    table = tables.shop_installations
    with engine.connect() as connection:
        return dict(connection.execute(sa.select(table).where(table.c.shop == DEMO_SHOP)).mappings().one())


def test_an_uninstall_stops_sending_and_a_reinstall_before_the_erasure_resumes_it(world):
    settings = load_settings(world.config_file)
    engine = store_engine(settings.operational_store_url)
    variants = world.http.get(f"{world.simulator_url}/_sim/log", params={"kind": "variant"}).json()["events"]
    variant = next(v["variant_id"] for v in variants if v["tracked"] and v["inventory_policy"] == "DENY")
    moment = world.clock.now()

    # A sell-out with a shopper waiting, confirmed by the alerts path.
    _post(world, "/_sim/stock", {"variant_id": variant, "available": 0})
    answer = world.http.post(
        f"{world.storefront_url}/api/subscriptions",
        json={"shop": DEMO_SHOP, "variant_id": variant, "email": CONTACT, "client_id": "reinstall-1"},
        headers={"X-Forwarded-For": "10.9.8.7"},
    )
    assert answer.status_code == 202, answer.text
    moment += DEBOUNCE * 2
    _alerts(world, moment)

    # A restock (its webhook reaches the inbox), and the merchant uninstalls at once: Shopify sends
    # app/uninstalled and revokes the token. The restock is still confirmed, but nothing is sent.
    _post(world, "/_sim/stock", {"variant_id": variant, "available": 5})
    _post(world, "/_sim/app", {"installed": False})
    assert _installation(engine)["uninstalled_at"] is not None
    moment += DEBOUNCE * 2
    uninstalled = _alerts(world, moment)  # the 401 does not fail the run
    assert _shops_not_read(uninstalled) == DEMO_SHOP
    run_dispatcher(engine, settings, until_idle=True)
    assert _job(engine)["status"] == "skipped"

    # ... and installs the app again before the erasure: the next read is answered, the alert goes out.
    _post(world, "/_sim/app", {"installed": True})
    moment += DEBOUNCE
    reinstalled = _alerts(world, moment)
    assert _shops_not_read(reinstalled) is None
    installation = _installation(engine)
    assert (installation["uninstalled_at"], installation["erase_after"]) == (None, None)
    run_dispatcher(engine, settings, until_idle=True)
    job = _job(engine)
    assert job["status"] == "sent" and job["provider_message_id"]
    log = world.http.get(f"{world.simulator_url}/_sim/log").json()["events"]
    assert [e["kind"] for e in log if e["kind"].startswith("app_")] == [
        "app_uninstalled",
        "app_webhook",
        "app_installed",
    ]


OLD_CONTACT = "before.erasure@example.com"
NEW_CONTACT = "after.reinstall@example.com"


def _sign_up(world, variant: str, email: str):
    return world.http.post(
        f"{world.storefront_url}/api/subscriptions",
        json={"shop": DEMO_SHOP, "variant_id": variant, "email": email, "client_id": email},
        headers={"X-Forwarded-For": "10.9.8.6"},
    )


def _shop_redact(world, settings) -> None:
    """Shopify's `shop/redact`, signed with the shop's webhook secret, to the storefront."""
    body = json.dumps({"shop_id": 954889, "shop_domain": DEMO_SHOP}).encode()
    secret = settings.shop(DEMO_SHOP).webhook_secret.get_secret_value().encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": privacy.SHOP_REDACT,
        "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode(),
        "X-Shopify-Shop-Domain": DEMO_SHOP,
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": format_instant(world.clock.now()),
    }
    answer = world.http.post(f"{world.storefront_url}/webhooks/shopify", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


def _warehouse(world, sql: str) -> list[tuple]:
    with connect(world.data_dir / "warehouse.duckdb") as warehouse:
        return warehouse.execute(sql, [DEMO_SHOP]).fetchall()


def _contacts_in_warehouse(world) -> set[str]:
    return {row[0] for row in _warehouse(world, "SELECT contact FROM raw_app.subscriptions WHERE shop = ?")}


def _orders_logged_after(world, moment) -> set[str]:
    log = world.http.get(f"{world.simulator_url}/_sim/log", params={"kind": "order"}).json()["events"]
    return {event["order_id"] for event in log if parse_instant(event["at"]) > moment}


def test_a_reinstall_after_the_erasure_starts_afresh(world):
    settings = load_settings(world.config_file)
    engine = store_engine(settings.operational_store_url)
    variants = world.http.get(f"{world.simulator_url}/_sim/log", params={"kind": "variant"}).json()["events"]
    variant = next(v["variant_id"] for v in variants if v["tracked"] and v["inventory_policy"] == "DENY")
    moment = world.clock.now()

    # The shop's data before: an alert, and its orders, in the store and the warehouse.
    assert _sign_up(world, variant, OLD_CONTACT).status_code == 202
    moment += timedelta(hours=6)
    _alerts(world, moment, job="analytics")
    old_orders = {
        row[0] for row in _warehouse(world, "SELECT order_id FROM raw_shopify.orders WHERE shop = ?")
    }
    assert old_orders and OLD_CONTACT in _contacts_in_warehouse(world)

    # The merchant uninstalls; Shopify sends shop/redact: the store forgets the shop at once, the
    # warehouse on the next cycle (the erased shop is asked, answers 401, and is left out).
    _post(world, "/_sim/app", {"installed": False})
    _shop_redact(world, settings)
    erased_at = _installation(engine)["erased_at"]
    assert erased_at is not None
    moment += timedelta(minutes=30)
    assert _shops_not_read(_alerts(world, moment)) == DEMO_SHOP
    assert _warehouse(world, "SELECT count(*) FROM raw_shopify.variants WHERE shop = ?") == [(0,)]
    assert _warehouse(world, "SELECT count(*) FROM raw_shopify.orders WHERE shop = ?") == [(0,)]
    assert _sign_up(world, variant, NEW_CONTACT).status_code == 422  # not installed: no signups

    # The merchant installs the app again; shoppers go on ordering. The next cycle reads the shop afresh.
    _post(world, "/_sim/app", {"installed": True})
    moment += timedelta(hours=12)
    reinstalled = _alerts(world, moment)
    assert _shops_not_read(reinstalled) is None
    installation = _installation(engine)
    assert (installation["uninstalled_at"], installation["erased_at"]) == (None, erased_at)
    assert _sign_up(world, variant, NEW_CONTACT).status_code == 202
    moment += timedelta(minutes=30)
    _alerts(world, moment, job="analytics")

    # The new installation's data is there and stays, cycle after cycle; nothing from before came back.
    new_orders = _orders_logged_after(world, erased_at)
    assert new_orders, "the simulated shoppers placed no order after the reinstall"
    for cycle in range(2):
        if cycle:
            moment += timedelta(minutes=30)
            _alerts(world, moment, job="analytics")
        stored = {
            row[0] for row in _warehouse(world, "SELECT order_id FROM raw_shopify.orders WHERE shop = ?")
        }
        assert new_orders <= stored and not stored & old_orders
        contacts = _contacts_in_warehouse(world)
        assert NEW_CONTACT in contacts and OLD_CONTACT not in contacts
        assert _warehouse(world, "SELECT count(*) > 0 FROM raw_shopify.variants WHERE shop = ?") == [(True,)]
    with engine.connect() as connection:
        assert DEMO_SHOP not in privacy.ledger(connection)["erased_shops"]
        stored = set(
            connection.execute(
                sa.select(tables.subscriptions.c.contact).where(tables.subscriptions.c.shop == DEMO_SHOP)
            ).scalars()
        )
    assert NEW_CONTACT in stored and OLD_CONTACT not in stored
