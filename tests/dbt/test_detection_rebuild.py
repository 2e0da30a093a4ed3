"""Detection run cycle by cycle over three simulated days, then rebuilt from scratch: the same decisions.

A seeded story of a shop writes the raw layer the way the product's ingest and copy do, cycle by cycle: stock
changes at online, retail (POS) and inactive locations, webhooks that arrive seconds, minutes or never after
the change, duplicated ones, polls that reconcile what was lost (a full read once a day finds a deactivated
level), a policy switch to CONTINUE and back, a product archived, rule changes (cooldown, batches, manual
release) and a person releasing a held product, signups and unsubscribes. dbt runs incrementally after each
cycle as the pipeline does. Then:

- the explicit full refresh (`--full-refresh` with `rebuild_decisions`) reproduces every decision and history
  row exactly;
- a plain `--full-refresh` leaves the decisions alone;
- a replay as of an earlier cycle adds nothing, and what was decided by then is what that cycle decided.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt_helpers import dbt, rows

from orchestration.warehouse import append_rows, ensure_raw_schema

SHOP = "rebuild-shop.myshopify.com"
START = datetime(2026, 11, 2)
DAYS = 3
CYCLE = timedelta(hours=8)
REPLAYED_CYCLE = 4
SLICE_FACTS = 100  # a rebuild's sellable history in several slices of items
ONLINE, OTHER_ONLINE, POS, INACTIVE = (f"gid://shopify/Location/{n}" for n in (11, 12, 13, 14))
PRODUCTS = [f"gid://shopify/Product/{n}" for n in range(1, 5)]
VARIANTS = [f"gid://shopify/ProductVariant/{n}" for n in range(1, 9)]
SWITCHED = VARIANTS[6]  # to CONTINUE on day 1, back to DENY on day 2
ARCHIVED = PRODUCTS[3]
BATCHED, MANUAL = PRODUCTS[1], PRODUCTS[2]
DECISIONS = (
    "restock_events",
    "notification_targets",
    "target_releases",
    "int_restock_late_facts",
    "restock_late_data",
)
DERIVED = ("int_inventory_facts", "int_sellable_quantities_historized", "int_stock_segments")
SELECTED = [
    "--select", "+target_releases +restock_late_data", "--indirect-selection", "cautious",
    "--exclude-resource-type", "unit_test",
]  # fmt: skip


def product_of(variant: str) -> str:
    return PRODUCTS[VARIANTS.index(variant) // 2]


def item_of(variant: str) -> str:
    return variant.replace("ProductVariant/", "InventoryItem/")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Level:
    available: int
    updated_at: datetime
    is_active: bool = True


@dataclass
class Shop:
    """The truth, and what the product was told and when."""

    rng: random.Random
    levels: dict[tuple[str, str], Level] = field(default_factory=dict)
    webhooks: list[dict[str, Any]] = field(default_factory=list)  # with the instant each reaches the product
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    rule_changes: list[dict[str, Any]] = field(default_factory=list)
    manual_releases: list[dict[str, Any]] = field(default_factory=list)
    variant_versions: list[dict[str, Any]] = field(default_factory=list)
    product_versions: list[dict[str, Any]] = field(default_factory=list)

    def online(self, variant: str) -> int:
        return sum(
            max(level.available, 0)
            for (v, location), level in self.levels.items()
            if v == variant and location in (ONLINE, OTHER_ONLINE) and level.is_active
        )

    def change(self, variant: str, location: str, available: int, at: datetime) -> None:
        level = self.levels[(variant, location)]
        level.available, level.updated_at = available, at
        self._send("inventory_levels/update", variant, location, at, available)

    def deactivate(self, variant: str, location: str, at: datetime) -> None:
        self.levels[(variant, location)].is_active = False  # updated_at stays: only a full read shows it
        self._send("inventory_levels/disconnect", variant, location, at, None)

    def _send(self, topic: str, variant: str, location: str, at: datetime, available: int | None) -> None:
        roll = self.rng.random()
        if roll < 0.08:
            return  # never delivered: a poll has to find it
        delay = (
            timedelta(minutes=self.rng.uniform(1, 12))
            if roll < 0.25
            else timedelta(seconds=self.rng.randint(1, 3))
        )
        payload = {"inventory_item_id": int(item_of(variant).rsplit("/", 1)[1]),
                   "location_id": int(location.rsplit("/", 1)[1])}  # fmt: skip
        if topic != "inventory_levels/disconnect":
            payload |= {"available": available, "updated_at": at.strftime("%Y-%m-%dT%H:%M:%S+00:00")}
        deliveries = [at + delay]
        if roll > 0.93:  # delivered twice (Shopify's retry of the same event, a new webhook id)
            deliveries.append(at + delay + timedelta(minutes=self.rng.uniform(1, 20)))
        for received in deliveries:
            self.webhooks.append(
                {"topic": topic, "triggered_at": at, "received_at": received, "payload": payload}
            )


def write_story(seed: int) -> tuple[Shop, list[tuple[datetime, list[dict[str, Any]]]]]:
    """The shop's three days in time order, and what each cycle's ingest read: (cycle instant, polled
    levels): the levels changed since the last poll (5 minutes of overlap), or every level once a day."""
    rng = random.Random(seed)
    shop = Shop(rng)
    for variant in VARIANTS:
        for location in (ONLINE, OTHER_ONLINE, POS, INACTIVE):
            shop.levels[(variant, location)] = Level(rng.choice((0, 0, 1, 3)), START)
        shop.variant_versions.append({"variant": variant, "policy": "DENY", "updated_at": START})
    shop.product_versions += [
        {"product": product, "status": "ACTIVE", "updated_at": START} for product in PRODUCTS
    ]
    end = START + timedelta(days=DAYS)
    queue: list[tuple[datetime, int, str, str, int]] = []
    kinds = ("sale", "sale", "sale", "restock", "restock_pos", "flap", "transfer")
    for variant in VARIANTS:
        for _ in range(18):
            moment = START + timedelta(seconds=rng.randint(600, int((end - START).total_seconds()) - 600))
            heapq.heappush(queue, (moment, len(queue), rng.choice(kinds), variant, 0))
    heapq.heappush(queue, (START + timedelta(days=1, hours=12), len(queue), "deactivate", VARIANTS[1], 0))
    cycles = [START + CYCLE * n for n in range(int(timedelta(days=DAYS) / CYCLE) + 1)]
    polls: list[tuple[datetime, list[dict[str, Any]]]] = []
    last_poll, last_full = None, None
    for cycle in cycles:
        while queue and queue[0][0] <= cycle:
            moment, _, kind, variant, units = heapq.heappop(queue)
            for follow_up in _play(shop, moment, kind, variant, units):
                heapq.heappush(queue, (follow_up[0], len(queue) + 10_000, *follow_up[1:]))
            if (
                kind in ("sale", "transfer_out", "flap_down")
                and shop.online(variant) == 0
                and rng.random() < 0.6
            ):
                signup = moment + timedelta(seconds=rng.randint(5, 600))
                unsubscribed = signup + timedelta(hours=5) if rng.random() < 0.15 else None
                shop.subscriptions.append(
                    {"variant": variant, "signed_up_at": signup, "unsubscribed_at": unsubscribed}
                )
        full = last_full is None or cycle - last_full >= timedelta(days=1)
        since = None if full else last_poll - timedelta(minutes=5)
        polls.append((cycle, [
            {"variant": variant, "location": location, "available": level.available,
             "updated_at": level.updated_at, "is_active": level.is_active, "full": full}
            for (variant, location), level in shop.levels.items()
            if since is None or level.updated_at >= since
        ]))  # fmt: skip
        last_poll, last_full = cycle, cycle if full else last_full
    shop.variant_versions += [
        {"variant": SWITCHED, "policy": "CONTINUE", "updated_at": START + timedelta(days=1, hours=3)},
        {"variant": SWITCHED, "policy": "DENY", "updated_at": START + timedelta(days=2, hours=3)},
    ]
    shop.product_versions.append(
        {"product": ARCHIVED, "status": "ARCHIVED", "updated_at": START + timedelta(days=1, hours=20)}
    )
    shop.rule_changes += [
        {"scope": "product", "scope_id": BATCHED, "name": "batch_multiplier", "value": 1, "at": START},
        {"scope": "product", "scope_id": BATCHED, "name": "batch_interval_minutes", "value": 30, "at": START},
        {"scope": "product", "scope_id": MANUAL, "name": "release", "value": "manual", "at": START},
        {
            "scope": "shop",
            "scope_id": "",
            "name": "cooldown_hours",
            "value": 6,
            "at": START + timedelta(hours=30),
        },
        {"scope": "shop", "scope_id": "", "name": "threshold", "value": 2, "at": START + timedelta(hours=49)},
    ]
    shop.manual_releases += [
        {"product": MANUAL, "at": START + timedelta(days=day, hours=18)} for day in (1, 2)
    ]
    return shop, polls


def _play(shop: Shop, moment: datetime, kind: str, variant: str, units: int) -> list[tuple]:
    """Apply one change; returns the changes it sets off later (a flap's return, a transfer's arrival)."""
    rng = shop.rng
    if kind == "deactivate":
        shop.deactivate(variant, OTHER_ONLINE, moment)
    elif kind == "sale":
        stocked = [loc for loc in (ONLINE, OTHER_ONLINE) if shop.levels[(variant, loc)].available > 0]
        if stocked:
            location = rng.choice(stocked)
            shop.change(variant, location, shop.levels[(variant, location)].available - 1, moment)
    elif kind in ("restock", "restock_pos"):
        location = POS if kind == "restock_pos" else rng.choice((ONLINE, OTHER_ONLINE, INACTIVE))
        shop.change(variant, location, shop.levels[(variant, location)].available + rng.randint(1, 6), moment)
    elif kind == "flap" and shop.online(variant) == 0:
        shop.change(variant, ONLINE, shop.levels[(variant, ONLINE)].available + 1, moment)
        return [(moment + timedelta(minutes=2), "flap_down", variant, 0)]
    elif kind == "flap_down":
        shop.change(variant, ONLINE, shop.levels[(variant, ONLINE)].available - 1, moment)
    elif kind == "transfer" and shop.levels[(variant, ONLINE)].available > 0:
        moved = shop.levels[(variant, ONLINE)].available
        shop.change(variant, ONLINE, 0, moment)
        return [(moment + timedelta(seconds=rng.randint(60, 180)), "transfer_in", variant, moved)]
    elif kind == "transfer_in":
        shop.change(variant, OTHER_ONLINE, shop.levels[(variant, OTHER_ONLINE)].available + units, moment)
    return []


LOCATIONS = (
    (ONLINE, "Web warehouse", True, True),
    (OTHER_ONLINE, "Second warehouse", True, True),
    (POS, "Retail store", True, False),
    (INACTIVE, "Old depot", False, True),
)


class Warehouse:
    """Writes what each cycle's ingest and store copy land, each row known from that cycle on (webhooks, rule
    changes and releases from their own instant)."""

    def __init__(self, path: Path, shop: Shop) -> None:
        self.path, self.shop = path, shop
        self.copied = {"webhook_inbox": 0, "rule_changes": 0, "manual_releases": 0}
        self.previous: datetime | None = None

    def land(self, cycle: datetime, polled: list[dict[str, Any]]) -> None:
        since = None if self.previous is None else self.previous - timedelta(minutes=5)

        def read(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """What an incremental read by updated_at returns at this cycle."""
            return [
                v
                for v in versions
                if v["updated_at"] <= cycle and (since is None or v["updated_at"] >= since)
            ]

        with duckdb.connect(str(self.path)) as connection:
            ensure_raw_schema(connection)
            if self.previous is None:
                shop_row = {"shop": SHOP, "shop_id": "gid://shopify/Shop/1", "name": "Rebuild",
                            "currency_code": "EUR", "iana_timezone": "Europe/Berlin"}  # fmt: skip
                append_rows(connection, "shops", [shop_row], cycle)
            locations = [
                {"shop": SHOP, "location_id": location, "name": name, "is_active": active,
                 "fulfills_online_orders": online}
                for location, name, active, online in LOCATIONS
            ]  # fmt: skip
            append_rows(connection, "locations", locations, cycle)
            products = [
                {"shop": SHOP, "product_id": v["product"], "title": v["product"][-1], "handle": "h",
                 "status": v["status"], "updated_at": v["updated_at"]}
                for v in read(self.shop.product_versions)
            ]  # fmt: skip
            append_rows(connection, "products", products, cycle)
            variants = [
                {"shop": SHOP, "variant_id": v["variant"], "product_id": product_of(v["variant"]),
                 "inventory_item_id": item_of(v["variant"]), "title": "T", "sku": "S", "price": 10,
                 "inventory_policy": v["policy"], "tracked": True, "updated_at": v["updated_at"]}
                for v in read(self.shop.variant_versions)
            ]  # fmt: skip
            append_rows(connection, "variants", variants, cycle)
            levels = [
                {"shop": SHOP, "inventory_level_id": f"gid://shopify/InventoryLevel/{90_000 + number}",
                 "inventory_item_id": item_of(row["variant"]), "location_id": row["location"],
                 "available": row["available"], "is_active": row["is_active"],
                 "updated_at": row["updated_at"]}
                for number, row in enumerate(polled)
            ]  # fmt: skip
            append_rows(connection, "inventory_levels", levels, cycle)
            full = bool(polled) and polled[0]["full"]
            reads = [
                {"shop": SHOP, "location_id": location, "is_full_read": full, "levels_read": 0}
                for location, *_ in LOCATIONS
            ]  # fmt: skip
            append_rows(connection, "inventory_level_reads", reads, cycle)
            self._copy_store(connection, cycle)
        self.previous = cycle

    def _copy_store(self, connection: duckdb.DuckDBPyConnection, cycle: datetime) -> None:
        shop = self.shop
        webhooks = sorted(
            (w for w in shop.webhooks if w["received_at"] <= cycle), key=lambda w: w["received_at"]
        )
        for number, webhook in self._new("webhook_inbox", webhooks):
            self._insert(connection, "webhook_inbox", {
                "id": number, "shop": SHOP, "topic": webhook["topic"], "webhook_id": f"w{number}",
                "api_version": "2026-07", "triggered_at": webhook["triggered_at"],
                "received_at": webhook["received_at"], "payload": json.dumps(webhook["payload"]),
                "_copied_at": cycle, "_known_at": webhook["received_at"],
            })  # fmt: skip
        for number, change in self._new("rule_changes", [c for c in shop.rule_changes if c["at"] <= cycle]):
            self._insert(connection, "rule_changes", {
                "id": number, "shop": SHOP, "scope": change["scope"], "scope_id": change["scope_id"],
                "name": change["name"], "value": json.dumps(change["value"]), "changed_at": change["at"],
                "changed_by": "ops", "_copied_at": cycle, "_known_at": change["at"],
            })  # fmt: skip
        for number, release in self._new(
            "manual_releases", [r for r in shop.manual_releases if r["at"] <= cycle]
        ):
            self._insert(connection, "manual_releases", {
                "id": number, "shop": SHOP, "product_id": release["product"], "released_at": release["at"],
                "released_by": "ops", "_copied_at": cycle, "_known_at": release["at"],
            })  # fmt: skip
        connection.execute(
            "DELETE FROM raw_app.subscriptions"
        )  # a snapshot of the store, as the copy takes it
        for number, signup in enumerate(shop.subscriptions, 1):
            if signup["signed_up_at"] > cycle:
                continue
            left = signup["unsubscribed_at"]
            left = left if left is not None and left <= cycle else None
            self._insert(connection, "subscriptions", {
                "id": number, "shop": SHOP, "variant_id": signup["variant"],
                "product_id": product_of(signup["variant"]), "channel": "email",
                "contact": f"shopper{number}@example.com", "locale": "en",
                "status": "unsubscribed" if left else "active",
                "created_at": signup["signed_up_at"] - timedelta(minutes=10),  # requested, then confirmed
                "confirmed_at": signup["signed_up_at"], "updated_at": left or signup["signed_up_at"],
                "unsubscribed_at": left, "consent_text": "yes",
                "consent_method": "form", "consent_at": signup["signed_up_at"],
            })  # fmt: skip

    def _new(self, table: str, rows_so_far: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        first = self.copied[table]
        self.copied[table] = len(rows_so_far)
        return list(enumerate(rows_so_far[first:], first + 1))

    @staticmethod
    def _insert(connection: duckdb.DuckDBPyConnection, table: str, row: dict[str, Any]) -> None:
        names = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" for _ in row)
        connection.execute(f"INSERT INTO raw_app.{table} ({names}) VALUES ({marks})", list(row.values()))


def snapshot(warehouse: Path, tables: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Every row of each table, but for which run wrote it (`batch_fact_seq`: a run's own bookkeeping)."""
    return {
        table: rows(warehouse, f"SELECT * EXCLUDE (batch_fact_seq) FROM {table} ORDER BY ALL")
        if table in ("int_sellable_quantities_historized", "int_stock_segments")
        else rows(warehouse, f"SELECT * FROM {table} ORDER BY ALL")
        for table in tables
    }


def build(warehouse: Path, work: Path, as_of: datetime, *arguments: str, **variables: Any) -> None:
    finished = dbt("build", warehouse, work, variables, *SELECTED, *arguments, as_of=stamp(as_of))
    assert finished.returncode == 0, finished.stdout[-6000:]


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("rebuild")
    warehouse = work / "warehouse.duckdb"
    shop, polls = write_story(seed=5)
    landing = Warehouse(warehouse, shop)
    replayed: tuple[datetime, dict[str, Any]] | None = None
    for number, (cycle, polled) in enumerate(polls):
        landing.land(cycle, polled)
        build(warehouse, work, cycle)
        if number == REPLAYED_CYCLE:
            replayed = (cycle, snapshot(warehouse, DECISIONS))
    last = polls[-1][0]
    incremental = snapshot(warehouse, DECISIONS + DERIVED)
    # in slices of a few items each, as a rebuild of a big shop is built (macros/sellable_history.sql)
    build(warehouse, work, last, "--full-refresh", rebuild_facts_per_slice=SLICE_FACTS)
    kept = snapshot(warehouse, DECISIONS + DERIVED)
    rebuild = {"rebuild_decisions": True, "rebuild_facts_per_slice": SLICE_FACTS}
    build(warehouse, work, last, "--full-refresh", **rebuild)
    rebuilt = snapshot(warehouse, DECISIONS + DERIVED)
    assert replayed is not None
    build(warehouse, work, replayed[0])
    replay = snapshot(warehouse, DECISIONS)
    return {
        "incremental": incremental,
        "kept": kept,
        "rebuilt": rebuilt,
        "replayed": replayed,
        "replay": replay,
    }


def test_the_story_exercises_what_detection_must_get_right(played: dict[str, Any]) -> None:
    """Not a trivial pass: restocks of both kinds, late data that contradicts one, batches, a manual release,
    a variant that could not restock for a while, and facts from every source."""
    decided = played["incremental"]
    assert {row["fired_by"] for row in decided["restock_events"]} == {"restock", "waiting_subscribers"}
    assert any(row["contradicts"] for row in decided["restock_late_data"])
    assert {"restock", "batch", "manual"} <= {row["released_by"] for row in decided["target_releases"]}
    sources = {row["source"] for row in decided["int_inventory_facts"]}
    assert sources >= {"poll", "webhook", "variant", "product", "location", "rule"}
    states = {row["stock_state"] for row in decided["int_sellable_quantities_historized"]}
    assert states == {"in_stock", "out_of_stock", "not_restockable"}
    # the rebuild's sellable history was built in several slices, each holding some of the items
    assert len(decided["int_inventory_facts"]) >= 3 * SLICE_FACTS


def differences(expected: list[dict[str, Any]], found: list[dict[str, Any]]) -> str:
    missing = [row for row in expected if row not in found]
    extra = [row for row in found if row not in expected]
    changed = [
        {key: (before[key], after[key]) for key in before if before[key] != after[key]}
        for before, after in zip(missing, extra, strict=False)
    ]
    return f"{len(missing)} rows missing, {len(extra)} extra; differing columns: {changed[:3]}"


def test_a_rebuild_reproduces_every_decision_from_the_same_raw_rows(played: dict[str, Any]) -> None:
    for table in DECISIONS + DERIVED:
        expected, found = played["incremental"][table], played["rebuilt"][table]
        assert found == expected, f"{table}: {differences(expected, found)}"


def test_a_plain_full_refresh_keeps_the_decisions(played: dict[str, Any]) -> None:
    for table in DECISIONS + DERIVED:
        expected, found = played["incremental"][table], played["kept"][table]
        assert found == expected, f"{table}: {differences(expected, found)}"


def test_a_replay_adds_nothing_and_gives_what_that_cycle_decided(played: dict[str, Any]) -> None:
    cycle, then = played["replayed"]
    assert played["replay"] == {table: played["rebuilt"][table] for table in DECISIONS}
    assert [row for row in played["replay"]["restock_events"] if row["decided_at"] <= cycle] == then[
        "restock_events"
    ]
    released = [row for row in played["replay"]["target_releases"] if row["released_at"] <= cycle]
    assert released == then["target_releases"]
