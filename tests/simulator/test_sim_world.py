"""Playing scenarios against a stand-in storefront: webhooks, shoppers, simulated time, determinism."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import httpx
from sim_harness import (
    SENDGRID_KEY,
    SHOP,
    WEBHOOK_SECRET,
    FakeStorefront,
    StandInProduct,
    drive,
    serving,
    world_config,
)

from simulator.gids import gid_number
from simulator.instants import format_instant, parse_instant
from simulator.shoppers import react_to_alert, rng_for
from simulator.world import World

END = "2026-11-04T00:00:00Z"


def events(http: httpx.Client, url: str, *kinds: str) -> list[dict]:
    return http.get(f"{url}/_sim/log", params={"kind": list(kinds)}).json()["events"]


def test_every_inventory_change_is_a_signed_shopify_webhook_delivered_as_shopify_does(
    simulator_url: str, http: httpx.Client, storefront: FakeStorefront
) -> None:
    """Each change sends inventory_levels/update (a deactivated level /disconnect): most at once, some late,
    some twice (a redelivery keeps its webhook id, a second event shares the event id), some never. Ids are
    exact JSON integers and the level's gid carries its own number, not the location's."""
    http.post(f"{simulator_url}/_sim/advance", json={"to": END}).raise_for_status()
    changes = [e for e in events(http, simulator_url, "inventory") if e["reason"] != "opening"]
    deliveries = events(http, simulator_url, "webhook")
    lost = events(http, simulator_url, "webhook_lost")
    assert storefront.rejected_webhooks == 0
    assert len(storefront.webhooks) == len(deliveries) > len(changes) / 2
    assert lost and any(delivery["attempt"] == 1 for delivery in deliveries)  # the scenario is harsh
    delays = [parse_instant(d["at"]) - parse_instant(d["triggered_at"]) for d in deliveries]
    assert max(delays) >= timedelta(minutes=1)
    by_event: dict[str, set[str]] = {}
    for delivery, webhook in zip(deliveries, storefront.webhooks, strict=True):
        headers, payload = webhook["headers"], webhook["payload"]
        assert headers["X-Shopify-Topic"] == delivery["topic"]
        assert headers["X-Shopify-Shop-Domain"] == SHOP and headers["X-Shopify-API-Version"] == "2026-10"
        assert headers["X-Shopify-Triggered-At"] == delivery["triggered_at"]
        assert headers["X-Shopify-Webhook-Id"] == delivery["webhook_id"]
        by_event.setdefault(headers["X-Shopify-Event-Id"], set()).add(delivery["webhook_id"])
        item = gid_number(delivery["inventory_item_id"], "InventoryItem")
        assert payload["inventory_item_id"] == item > 2**53
        assert payload["location_id"] == gid_number(delivery["location_id"], "Location")
        if delivery["topic"] == "inventory_levels/disconnect":
            assert set(payload) == {"inventory_item_id", "location_id"}
            continue
        assert set(payload) == {
            "inventory_item_id",
            "location_id",
            "available",
            "updated_at",
            "admin_graphql_api_id",
        }
        assert payload["admin_graphql_api_id"] == delivery["inventory_level_id"]
        assert gid_number(payload["admin_graphql_api_id"], "InventoryLevel") != payload["location_id"]
        assert payload["available"] == delivery["available"]
        assert payload["updated_at"].endswith("+01:00")  # Berlin in November
        assert parse_instant(payload["updated_at"]) == parse_instant(delivery["updated_at"])
    deactivated = events(http, simulator_url, "level_deactivated")
    assert len(by_event) + len(lost) == len(changes) + len(deactivated)


def test_the_scenario_has_flaps_and_transfers_that_are_no_sell_outs(
    simulator_url: str, http: httpx.Client, storefront: FakeStorefront
) -> None:
    product = StandInProduct(http, simulator_url, storefront)
    drive(http, simulator_url, product, parse_instant(END), timedelta(hours=4))
    changes = events(http, simulator_url, "inventory")
    ups = [e for e in changes if e["reason"] == "count_correction" and e["delta"] == 1]
    assert ups
    for up in ups:
        down = next(
            e
            for e in changes
            if e["seq"] > up["seq"] and e["reason"] == "count_correction" and e["delta"] == -1
        )
        assert down["location_id"] == up["location_id"] and down["variant_id"] == up["variant_id"]
        assert parse_instant(down["at"]) - parse_instant(up["at"]) == timedelta(minutes=2)
    (out,) = [e for e in changes if e["reason"] == "transfer_out"]
    (into,) = [e for e in changes if e["reason"] == "transfer_in"]
    assert (
        out["available"] == 0 and into["delta"] == -out["delta"] and into["location_id"] != out["location_id"]
    )
    assert (
        timedelta(minutes=1) <= parse_instant(into["at"]) - parse_instant(out["at"]) <= timedelta(minutes=3)
    )
    restocks = http.get(f"{simulator_url}/_sim/ground-truth").json()["restocks"]
    restocked_at = {(restock["variant_id"], restock["restocked_at"]) for restock in restocks}
    assert restocks and (into["variant_id"], into["at"]) not in restocked_at
    assert not any((up["variant_id"], up["at"]) in restocked_at for up in ups)


def test_shoppers_call_the_storefront_as_the_contract_says(
    simulator_url: str, http: httpx.Client, storefront: FakeStorefront
) -> None:
    http.post(f"{simulator_url}/_sim/advance", json={"to": END}).raise_for_status()
    view = storefront.views[0]
    assert view["shop"] == SHOP and view["name"] == "product_viewed"
    assert view["variant_id"].startswith("gid://shopify/ProductVariant/") and view["client_id"]
    signups = events(http, simulator_url, "signup")
    assert signups and {s["status"] for s in signups} == {202}
    first = storefront.subscriptions[1]
    assert first["email"].endswith("@example.com") and first["channel"] == "email" and first["locale"] == "en"
    assert signups[0]["answer"] == {"status": "accepted", "double_opt_in": True}
    orders = events(http, simulator_url, "order")
    assert orders and {order["cause"] for order in orders} <= {"organic", "anyway", "test"}  # no alert sent
    variants = events(http, simulator_url, "variant")
    assert any(not v["tracked"] for v in variants) and any(
        v["inventory_policy"] == "CONTINUE" for v in variants
    )


def test_time_moves_only_on_advance_and_reactions_come_strictly_later(
    small_world: World, simulator_url: str, http: httpx.Client, storefront: FakeStorefront
) -> None:
    clock = http.get(f"{simulator_url}/_sim/clock").json()
    assert clock["now"] == "2026-11-02T00:00:00Z"
    assert parse_instant(clock["next_event_at"]) == min(event.at for event in small_world._queue)
    answer = http.post(f"{simulator_url}/_sim/advance", json={"to": clock["next_event_at"]}).json()
    assert answer["now"] == clock["next_event_at"] and answer["played"] == 1
    assert answer["played_before_to"] == 0
    assert events(http, simulator_url, "view")[-1]["at"] == clock["next_event_at"]
    assert http.post(f"{simulator_url}/_sim/advance", json={"to": "2026-11-02T00:00:00Z"}).status_code == 409
    # An alert arriving now: whatever the shopper does about it is queued strictly after now.
    now = answer["now"]
    product = StandInProduct(http, simulator_url, storefront)
    reacting = next(job for job in range(1, 50) if _opens(job, now))
    product.send(reacting, "shopper-0001@example.com", "gid://shopify/ProductVariant/44001", 1)
    upcoming = [e.at for e in small_world._queue]
    mine = [at for at in upcoming if at > parse_instant(now)]
    assert len(mine) == len(upcoming) and http.get(f"{simulator_url}/_sim/clock").json()["now"] == now
    http.post(f"{simulator_url}/_sim/advance", json={"to": END})
    (opened,) = [e for e in events(http, simulator_url, "open") if e["job_id"] == str(reacting)]
    assert opened["status"] == 200 and opened["at"] > now and storefront.opens == [str(reacting)]


def _opens(job: int, received_at: str) -> bool:
    reaction = react_to_alert(
        rng_for(7, "mail", str(job), "shopper-0001@example.com"), parse_instant(received_at)
    )
    return reaction.open_at is not None


def play(seed: int) -> tuple[list[dict], dict]:
    with FakeStorefront() as storefront, httpx.Client(timeout=30) as http:
        world = World(world_config(storefront.url, seed=seed))
        with serving(world) as url:
            drive(http, url, StandInProduct(http, url, storefront), world.config.end, timedelta(hours=4))
            # links point at the stand-in storefront, whose port differs from run to run
            log = json.loads(json.dumps(events(http, url)).replace(storefront.url, "http://storefront"))
            return log, http.get(f"{url}/_sim/ground-truth").json()


def test_the_small_scenario_end_to_end_is_deterministic_and_gives_every_kpi() -> None:
    log, truth = play(seed=7)
    again, _ = play(seed=7)
    other, _ = play(seed=8)
    assert _without_ports(log) == _without_ports(again)
    assert _without_ports(log) != _without_ports(other)
    totals = truth["totals"]
    assert totals["restocks"] > 0 and totals["notifications_sent"] > 0
    assert totals["notifications_opened"] > 0 and totals["notifications_clicked"] > 0
    assert totals["attributed_orders"] > 0 and totals["orders_caused"] > 0
    assert totals["notification_jobs"] == totals["notifications_sent"] == len(truth["targets"])
    cancelled = {event["order_id"] for event in log if event["kind"] == "cancel"}
    sales = [e for e in log if e["kind"] == "order" and not e["test"] and e["order_id"] not in cancelled]
    assert totals["total_orders"] == len(sales)
    assert sum(day["total_orders"] for day in truth["daily"]) == totals["total_orders"]
    assert [day["date"] for day in truth["daily"]] == ["2026-11-02", "2026-11-03", "2026-11-04"]


def _without_ports(log: list[dict]) -> list[dict]:
    """The log with each run's loopback ports blanked out (links name the stand-in storefront's port)."""
    return json.loads(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", json.dumps(log)))


def test_the_command_line_serves_and_says_when_it_is_ready() -> None:
    port = _free_port()
    command = [
        sys.executable, "-m", "simulator", "--port", str(port), "--seed", "3",
        "--start", "2026-11-02T00:00:00Z", "--days", "1", "--scenario", "small",
        "--storefront-url", "http://127.0.0.1:9", "--shop-domain", SHOP,
        "--access-token", "t", "--webhook-secret", WEBHOOK_SECRET, "--sendgrid-key", SENDGRID_KEY,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout.readline().strip() == f"simulator ready on http://127.0.0.1:{port}"
        clock = httpx.get(f"http://127.0.0.1:{port}/_sim/clock").json()
        assert clock["now"] == "2026-11-02T00:00:00Z" and clock["next_event_at"] > clock["now"]
        truth = httpx.get(f"http://127.0.0.1:{port}/_sim/ground-truth").json()
        assert json.dumps(truth) and truth["currency_code"] == "EUR" and truth["timezone"] == "Europe/Berlin"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_advance_reports_events_a_driver_stepped_past(
    small_world: World, simulator_url: str, http: httpx.Client
) -> None:
    """Jumping over event instants plays those events while the product's clock already says later."""
    due = sorted(event.at for event in small_world._queue)[:3]
    beyond = due[2] + timedelta(seconds=1)
    answer = http.post(f"{simulator_url}/_sim/advance", json={"to": format_instant(beyond)}).json()
    assert answer["played"] >= 3 and answer["played_before_to"] == answer["played"]


def test_shoppers_place_orders_that_make_revenue_hard_to_count() -> None:
    """Twelve days of the small shop with alerts sent: several lines per order, discounts, presentment
    currencies at each order's own rate, guests, refunds days later, cancellations, test orders, alert
    readers who check out with another email carrying the click token, and subscribers who come back on
    their own after a restock (would have bought anyway)."""
    with FakeStorefront() as storefront, httpx.Client(timeout=30) as http:
        world = World(world_config(storefront.url, seed=6, days=12))
        with serving(world) as url:
            drive(http, url, StandInProduct(http, url, storefront), world.config.end, timedelta(hours=6))
            log = events(http, url)
            truth = http.get(f"{url}/_sim/ground-truth").json()
    orders = [event for event in log if event["kind"] == "order"]
    kinds = Counter(event["kind"] for event in log)
    assert kinds["refund"] > 0 and kinds["cancel"] > 0
    assert any(len(order["lines"]) > 1 for order in orders)
    assert {order["presentment_currency_code"] for order in orders} > {"EUR"}
    foreign = [order for order in orders if order["presentment_currency_code"] != "EUR"]
    assert len({order["rate"] for order in foreign}) == len(foreign)  # each order its own rate
    assert any(order["customer_email"] is None for order in orders)  # guests
    assert {order["cause"] for order in orders} == {"organic", "anyway", "notification", "test"}
    elsewhere = [o for o in orders if o["carried_click"] and o["email"] != o["shopper"]]
    assert elsewhere and all(o["email"].endswith(".checkout@example.net") for o in elsewhere)
    by_token = {row["order_id"] for row in truth["attributions"]} & {o["order_id"] for o in elsewhere}
    assert by_token  # credited through the token alone
    anyway = [o for o in orders if o["cause"] == "notification" and o["anyway_at"]]
    assert (
        truth["totals"]["orders_caused"]
        == sum(
            1
            for o in orders
            if o["cause"] == "notification"
            and not o["anyway_at"]
            and o["order_id"] not in {e["order_id"] for e in log if e["kind"] == "cancel"}
        )
        and anyway is not None
    )
