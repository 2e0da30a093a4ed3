"""`dbt build` over a hand-made story in a DuckDB warehouse: restocks, frozen targets, attribution, KPIs.

The story (UTC; the shop is in Europe/Berlin, UTC+1 in November) is built as of 2026-11-03 12:00, then
again as of 2026-11-07 12:00 after more raw data arrived:

- V1 (DENY, tracked): out at both locations from 11-01 08:00; 3 units at L1 on 11-02 09:00 (restock R1); stock
  moved from L1 to L2 at 15:00/15:02 (a 2-minute dip, webhooks arriving out of order: no restock); sold out at
  20:00; back on 11-03 06:00 for an hour (21 h after R1: the cooldown suppresses it). Stage 2: 4 units on
  11-04 10:00 (R2).
- V2 (CONTINUE) and V3 (untracked) go from 0 to 5: never a restock.
- V4 (DENY): a 3-minute flap on 11-02; back on 11-03 11:57, 3 minutes before the first as_of: pending, then a
  restock in stage 2.
- Subscriptions, jobs, attempts, opens and clicks, product views and orders exercise targets, attribution
  and KPIs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt_helpers import dbt, rows

from orchestration.warehouse import append_rows, ensure_raw_schema

SHOP = "test-shop.myshopify.com"
L1, L2 = "gid://shopify/Location/1001", "gid://shopify/Location/1002"
P1, P2 = "gid://shopify/Product/501", "gid://shopify/Product/502"
V1, V2, V3, V4 = (f"gid://shopify/ProductVariant/{n}" for n in (601, 602, 603, 604))
ITEM = {V1: 2001, V2: 2002, V3: 2003, V4: 2004}
LOCATION_NUMBER = {L1: 1001, L2: 1002}
BERLIN = timedelta(hours=1)  # CET, all of November 2026

AS_OF_1 = "2026-11-03 12:00:00"
AS_OF_2 = "2026-11-07 12:00:00"
IN_THE_CYCLE = datetime(2026, 11, 7, 11, 0)  # when a faulty cycle as of AS_OF_2 wrote a row (naive UTC)


def t(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def naive(text: str) -> datetime:
    return datetime.fromisoformat(text)


def item_gid(variant: str) -> str:
    return f"gid://shopify/InventoryItem/{ITEM[variant]}"


def level_gid(variant: str, location: str) -> str:
    return f"gid://shopify/InventoryLevel/{LOCATION_NUMBER[location]}?inventory_item_id={ITEM[variant]}"


def poll(variant: str, location: str, available: int | None, updated_at: str) -> dict[str, Any]:
    return {
        "shop": SHOP,
        "inventory_level_id": level_gid(variant, location),
        "inventory_item_id": item_gid(variant),
        "location_id": location,
        "available": available,
        "updated_at": t(updated_at),
    }


class Story:
    """Writes the raw layer the way the ingest assets do: raw_shopify appended, raw_app replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.webhooks: list[dict[str, Any]] = []
        self.app: dict[str, list[dict[str, Any]]] = {
            "subscriptions": [],
            "notification_jobs": [],
            "notification_attempts": [],
            "tracking_events": [],
        }

    def append(self, table: str, rows: list[dict[str, Any]], ingested_at: str) -> None:
        with duckdb.connect(str(self.path)) as connection:
            ensure_raw_schema(connection)
            append_rows(connection, table, rows, t(ingested_at))

    def webhook(
        self, variant: str, location: str, available: int | None, updated_at: str, received_at: str
    ) -> None:
        """An inventory_levels/update body as Shopify signs it: updated_at in the shop's offset."""
        local = t(updated_at).astimezone(UTC) + BERLIN
        payload = {
            "inventory_item_id": ITEM[variant],
            "location_id": LOCATION_NUMBER[location],
            "available": available,
            "updated_at": local.strftime("%Y-%m-%dT%H:%M:%S") + "+01:00",
            "admin_graphql_api_id": level_gid(variant, location),
        }
        number = len(self.webhooks) + 1
        self.webhooks.append(
            {
                "id": number,
                "shop": SHOP,
                "topic": "inventory_levels/update",
                "webhook_id": f"webhook-{number}",
                "event_id": f"event-{number}",
                "api_version": "2026-07",
                "triggered_at": naive(updated_at),
                "received_at": naive(received_at),
                "payload": json.dumps(payload),
            }
        )

    def copy_app_tables(self) -> None:
        """Replace raw_app.* with the operational tables as they are now (what the copy asset does)."""
        with duckdb.connect(str(self.path)) as connection:
            ensure_raw_schema(connection)
            for table, rows in [*self.app.items(), ("webhook_inbox", self.webhooks)]:
                connection.execute(f"DELETE FROM raw_app.{table}")
                for row in rows:
                    columns = ", ".join(f'"{name}"' for name in row)
                    marks = ", ".join("?" for _ in row)
                    connection.execute(
                        f"INSERT INTO raw_app.{table} ({columns}) VALUES ({marks})", list(row.values())
                    )

    def subscription(
        self, number: int, variant: str, contact: str, created_at: str, unsubscribed_at: str | None = None
    ) -> None:
        self.app["subscriptions"].append(
            {
                "id": number,
                "shop": SHOP,
                "variant_id": variant,
                "product_id": P1 if variant in (V1, V2) else P2,
                "channel": "email",
                "contact": contact,
                "locale": "de" if number == 7 else "en",
                "status": "unsubscribed" if unsubscribed_at else "active",
                "created_at": naive(created_at),
                "confirmed_at": naive(created_at),  # double opt-in off: in effect from the signup
                "updated_at": naive(unsubscribed_at or created_at),
                "unsubscribed_at": naive(unsubscribed_at) if unsubscribed_at else None,
                "consent_text": "Tell me when it is back",
                "consent_method": "form",
                "consent_at": naive(created_at),
            }
        )
        # the signup form is on the product page: its pixel saw the subscriber look at the variant
        self.event("product_viewed", created_at, client=f"subscriber-{number}", variant=variant)

    def job(self, number: int, subscription: int, contact: str, created_at: str, sent_at: str | None) -> None:
        self.app["notification_jobs"].append(
            {
                "id": number,
                "shop": SHOP,
                "restock_event_id": "r1",
                "subscription_id": subscription,
                "variant_id": V1,
                "channel": "email",
                "contact": contact,
                "locale": "en",
                "status": "sent" if sent_at else "failed_permanent",
                "priority": 1,
                "context": "{}",
                "due_at": naive(created_at),
                "attempt_count": 1,
                "created_at": naive(created_at),
                "updated_at": naive(sent_at or created_at),
                "sent_at": naive(sent_at) if sent_at else None,
            }
        )

    def attempt(self, number: int, job: int, started_at: str, outcome: str) -> None:
        self.app["notification_attempts"].append(
            {
                "id": number,
                "job_id": job,
                "attempt_number": number,
                "provider": "sendgrid",
                "started_at": naive(started_at),
                "finished_at": naive(started_at),
                "status_code": 202 if outcome == "accepted" else 400,
                "outcome": outcome,
            }
        )

    def event(
        self,
        event_type: str,
        occurred_at: str,
        *,
        job: int | None = None,
        client: str | None = None,
        variant: str = V1,
    ) -> None:
        self.app["tracking_events"].append(
            {
                "id": len(self.app["tracking_events"]) + 1,
                "shop": SHOP,
                "event_type": event_type,
                "occurred_at": naive(occurred_at),
                "job_id": job,
                "variant_id": variant,
                "client_id": client,
            }
        )


def order(
    number: int,
    email: str,
    created_at: str,
    total: str,
    updated_at: str | None = None,
    cancelled_at: str | None = None,
    *,
    other_lines: tuple[tuple[str, str, str], ...] = (),
    presentment: tuple[str, str] | None = None,
    click_jobs: tuple[int, ...] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An order version as the ingest lands it: the order row and its lines (a V1 line for `total`, then
    `other_lines` of (variant, product, total)); money in shop currency, `presentment` the currency and
    total the customer paid; `click_jobs` the jobs whose verified click tokens it carries."""
    order_id = f"gid://shopify/Order/{number}"
    version = t(updated_at or created_at)
    lines = [
        {
            "shop": SHOP,
            "order_id": order_id,
            "line_item_id": f"gid://shopify/LineItem/{number}{index}",
            "variant_id": variant,
            "product_id": product,
            "quantity": 1,
            "original_total": Decimal(amount),
            "discount_total": Decimal("0.00"),
            "current_quantity": 0 if cancelled_at else 1,
            "current_total": Decimal("0.00") if cancelled_at else Decimal(amount),
            "order_updated_at": version,
        }
        for index, (variant, product, amount) in enumerate(((V1, P1, total), *other_lines))
    ]
    row = {
        "shop": SHOP,
        "order_id": order_id,
        "name": f"#{number}",
        "email": email,
        "created_at": t(created_at),
        "updated_at": version,
        "cancelled_at": t(cancelled_at) if cancelled_at else None,
        "currency_code": "EUR",
        "total_price": sum((line["original_total"] for line in lines), Decimal("0.00")),
        "presentment_currency_code": (presentment or ("EUR", ""))[0],
        "total_price_presentment": Decimal(presentment[1]) if presentment else None,
        "custom_attributes": "{}",
        "landing_pages": "[]",
        "click_job_ids": json.dumps(list(click_jobs)),
    }
    if not presentment:
        row["total_price_presentment"] = row["total_price"]
    return row, lines


def stage_one(story: Story) -> None:
    story.append(
        "shops",
        [
            {
                "shop": SHOP,
                "shop_id": "gid://shopify/Shop/1",
                "name": "Test Shop",
                "currency_code": "EUR",
                "iana_timezone": "Europe/Berlin",
            }
        ],
        "2026-11-01 07:00",
    )
    story.append(
        "locations",
        [
            {
                "shop": SHOP,
                "location_id": loc,
                "name": name,
                "is_active": True,
                "fulfills_online_orders": True,
            }
            for loc, name in ((L1, "Warehouse"), (L2, "Shop floor"))
        ],
        "2026-11-01 07:00",
    )
    story.append(
        "products",
        [
            {
                "shop": SHOP,
                "product_id": P1,
                "title": "Wool Hat",
                "handle": "wool-hat",
                "status": "ACTIVE",
                "updated_at": t("2026-10-01 00:00"),
            },
            {
                "shop": SHOP,
                "product_id": P2,
                "title": "Rain Jacket",
                "handle": "rain-jacket",
                "status": "ACTIVE",
                "updated_at": t("2026-10-01 00:00"),
            },
        ],
        "2026-11-01 07:00",
    )
    story.append(
        "variants",
        [
            {
                "shop": SHOP,
                "variant_id": variant,
                "product_id": P1 if variant in (V1, V2) else P2,
                "inventory_item_id": item_gid(variant),
                "title": title,
                "sku": title.upper(),
                "price": Decimal(price),
                "inventory_policy": policy,
                "tracked": tracked,
                "updated_at": t("2026-10-01 00:00"),
            }
            for variant, title, price, policy, tracked in (
                (V1, "Red", "25.00", "DENY", True),
                (V2, "Blue", "25.00", "CONTINUE", True),
                (V3, "S", "80.00", "DENY", False),
                (V4, "M", "80.00", "DENY", True),
            )
        ],
        "2026-11-01 07:00",
    )
    # The first full poll: everything at 0.
    story.append(
        "inventory_levels",
        [poll(variant, location, 0, "2026-11-01 08:00") for variant in ITEM for location in (L1, L2)],
        "2026-11-01 08:01",
    )
    story.webhook(V1, L1, 3, "2026-11-02 09:00", "2026-11-02 09:00:02")  # R1
    # A transfer L1 -> L2; the L1 webhook is retried and arrives after the L2 one.
    story.webhook(V1, L2, 3, "2026-11-02 15:02", "2026-11-02 15:02:05")
    story.webhook(V1, L1, 0, "2026-11-02 15:00", "2026-11-02 15:10:00")
    # Sold out, seen by a poll that also re-reads the transfer (duplicates of webhook observations).
    story.append(
        "inventory_levels",
        [poll(V1, L1, 0, "2026-11-02 15:00"), poll(V1, L2, 0, "2026-11-02 20:00")],
        "2026-11-02 20:05",
    )
    story.webhook(V1, L2, 5, "2026-11-03 06:00", "2026-11-03 06:00:01")  # 21 h after R1: cooldown
    story.webhook(V1, L2, 0, "2026-11-03 07:00", "2026-11-03 07:00:01")
    story.webhook(V2, L1, 5, "2026-11-02 10:00", "2026-11-02 10:00:01")  # CONTINUE
    story.webhook(V3, L1, 5, "2026-11-02 10:00", "2026-11-02 10:00:01")  # untracked
    story.webhook(V4, L1, 1, "2026-11-02 12:00", "2026-11-02 12:00:01")  # flap
    story.webhook(V4, L1, 0, "2026-11-02 12:03", "2026-11-02 12:03:01")
    story.webhook(V4, L1, 2, "2026-11-03 11:57", "2026-11-03 11:57:01")  # pending at AS_OF_1

    story.subscription(1, V1, "a@example.com", "2026-11-01 10:00")
    story.subscription(2, V1, "b@example.com", "2026-11-01 12:00", unsubscribed_at="2026-11-02 10:00")
    story.subscription(3, V1, "c@example.com", "2026-11-01 11:00", unsubscribed_at="2026-11-02 08:00")
    story.subscription(4, V1, "d@example.com", "2026-11-02 12:00")  # after R1: waits for R2
    story.subscription(5, V4, "e@example.com", "2026-11-01 09:00")
    story.subscription(6, V2, "f@example.com", "2026-11-01 13:00")  # CONTINUE: never answered
    story.subscription(7, V1, "g@example.com", "2026-11-02 09:00")  # exactly at R1: answered by R1
    story.subscription(8, V1, "h@example.com", "2026-11-04 09:00")  # after AS_OF_1: not there yet

    story.job(1, 1, "a@example.com", "2026-11-02 09:10", sent_at="2026-11-02 09:11")
    story.job(2, 2, "b@example.com", "2026-11-02 09:10", sent_at=None)
    story.job(
        3, 7, "g@example.com", "2026-11-02 09:10", sent_at="2026-11-02 23:30"
    )  # 00:30 on 11-03 in Berlin
    story.attempt(1, 1, "2026-11-02 09:10:30", "transient")
    story.attempt(2, 1, "2026-11-02 09:11", "accepted")
    story.attempt(3, 2, "2026-11-02 09:11", "permanent")
    story.attempt(4, 3, "2026-11-02 23:30", "accepted")

    story.event("product_viewed", "2026-11-01 09:00", client="c1")
    story.event("product_viewed", "2026-11-02 10:00", client="c1")
    story.event("product_viewed", "2026-11-01 23:30", client="c2")  # 00:30 on 11-02 in Berlin
    story.event("product_viewed", "2026-11-02 11:00", client="c3")
    story.event("open", "2026-11-02 10:00", job=1)
    story.event("click", "2026-11-02 12:00", job=1)
    story.event("click", "2026-11-02 13:00", job=2)  # a job never sent: no touch
    story.event("open", "2026-11-02 23:45", job=3)

    # click of job 1; the V4 line is of another product than the alert's: not credited (same_product)
    o1, o1_lines = order(1, "a@example.com", "2026-11-03 08:00", "50.00", other_lines=((V4, P2, "30.00"),))
    o2, o2_lines = order(2, "b@example.com", "2026-11-02 14:00", "30.00")  # b's touch is on an unsent job
    # no subscriber; paid in USD (Shopify's shop money is what counts)
    o3, o3_lines = order(3, "z@example.com", "2026-11-02 15:00", "20.00", presentment=("USD", "21.74"))
    o4, o4_lines = order(4, "g@example.com", "2026-11-03 09:00", "40.00")
    o4_cancelled, o4_cancelled_lines = order(
        4,
        "g@example.com",
        "2026-11-03 09:00",
        "40.00",
        updated_at="2026-11-03 10:00",
        cancelled_at="2026-11-03 10:00",
    )
    story.append("orders", [o1, o2, o3, o4], "2026-11-03 09:30")
    story.append("order_lines", [*o1_lines, *o2_lines, *o3_lines, *o4_lines], "2026-11-03 09:30")
    story.append("orders", [o4_cancelled], "2026-11-03 11:00")
    story.append("order_lines", o4_cancelled_lines, "2026-11-03 11:00")
    story.copy_app_tables()


def stage_two(story: Story) -> None:
    story.webhook(V1, L2, 4, "2026-11-04 10:00", "2026-11-04 10:00:01")  # R2
    story.append(
        "products",
        [
            {
                "shop": SHOP,
                "product_id": P1,
                "title": "Wool Hat (new)",
                "handle": "wool-hat",
                "status": "ACTIVE",
                "updated_at": t("2026-11-04 08:00"),
            }
        ],
        "2026-11-04 08:05",
    )
    o5, o5_lines = order(5, "a@example.com", "2026-11-07 12:00", "60.00")  # exactly 120 h after the click
    # another email, but it carries job 1's click token
    o6, o6_lines = order(6, "someone.else@example.net", "2026-11-06 10:00", "25.00", click_jobs=(1,))
    # o1's V1 line is returned on 11-05: a new version of the order with its refund line, 20.00 of 50.00
    o1_refunded, o1_refunded_lines = order(
        1, "a@example.com", "2026-11-03 08:00", "50.00", "2026-11-05 10:00", other_lines=((V4, P2, "30.00"),)
    )
    refund = {
        "shop": SHOP,
        "order_id": o1_refunded["order_id"],
        "refund_id": "gid://shopify/Refund/1",
        "refunded_at": t("2026-11-05 10:00"),
        "line_item_id": o1_refunded_lines[0]["line_item_id"],
        "quantity": 1,
        "subtotal": Decimal("20.00"),
        "order_updated_at": t("2026-11-05 10:00"),
    }
    story.append("orders", [o5, o6, o1_refunded], "2026-11-07 12:00")
    story.append("order_lines", [*o5_lines, *o6_lines, *o1_refunded_lines], "2026-11-07 12:00")
    story.append("order_refund_lines", [refund], "2026-11-07 12:00")
    story.copy_app_tables()


def dbt_build(
    warehouse: Path, work: Path, as_of: str, *, unit_tests: bool = True
) -> subprocess.CompletedProcess[str]:
    """`dbt build` as the cycle runs it; unit tests (code, not data) only need to run once per module."""
    skipped = [] if unit_tests else ["--exclude-resource-type", "unit_test"]
    return dbt("build", warehouse, work, {"as_of": as_of}, *skipped, timeout=600)


def restock_id(variant: str, restocked_at: str) -> str:
    import hashlib

    return hashlib.md5(f"{SHOP}|{variant}|{restocked_at}".encode()).hexdigest()


MARTS = (
    "variants",
    "restock_events",
    "notification_targets",
    "target_releases",
    "orders",
    "notification_attributions",
    "notification_attributions_click_only",
    "kpi_daily",
    "kpi_summary",
    "kpi_variants_daily",
    "kpi_products_daily",
    "kpi_channels_daily",
    "kpi_restock_events",
    "waiting_demand",
)


def snapshot(warehouse: Path) -> dict[str, list[dict[str, Any]]]:
    return {mart: rows(warehouse, f"SELECT * FROM {mart} ORDER BY ALL") for mart in MARTS}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three builds, once for the module: as of AS_OF_1, as of AS_OF_2 after more data, and a replay as of
    AS_OF_1 over all of the data; the marts after each."""
    work = tmp_path_factory.mktemp("dbt")
    warehouse = work / "warehouse.duckdb"
    story = Story(warehouse)
    stage_one(story)
    first = dbt_build(warehouse, work, AS_OF_1)
    assert first.returncode == 0, first.stdout[-6000:]
    first_marts = snapshot(warehouse)
    stage_two(story)
    second = dbt_build(warehouse, work, AS_OF_2, unit_tests=False)
    assert second.returncode == 0, second.stdout[-6000:]
    second_marts = snapshot(warehouse)
    replay = dbt_build(warehouse, work, AS_OF_1, unit_tests=False)
    assert replay.returncode == 0, replay.stdout[-6000:]
    replay_marts = snapshot(warehouse)
    return {"first": first_marts, "second": second_marts, "replay": replay_marts, "warehouse": warehouse}


def test_restocks_as_of_the_first_build(built: dict[str, Any]) -> None:
    (restock,) = built["first"]["restock_events"]
    assert {key: restock[key] for key in RESTOCK_DECISION} == {
        "restock_event_id": restock_id(V1, "2026-11-02 09:00:00"),
        "shop": SHOP,
        "variant_id": V1,
        "product_id": P1,
        "restocked_at": naive("2026-11-02 09:00"),
        "decided_at": naive("2026-11-02 09:05"),  # the debounce held from the webhook received at 09:00:02
        "fired_by": "restock",
        "sellable_quantity": 3,
        "threshold": 1,
        "debounce_minutes": 5,
        "cooldown_hours": 24,
        "release_mode": "automatic",
    }
    assert restock["started_by_fact_id"] == "webhook|1" and restock["ended_at_decision"] is None


RESTOCK_DECISION = (
    "restock_event_id", "shop", "variant_id", "product_id", "restocked_at", "decided_at", "fired_by",
    "sellable_quantity", "threshold", "debounce_minutes", "cooldown_hours", "release_mode",
)  # fmt: skip


def test_restocks_as_of_the_second_build(built: dict[str, Any]) -> None:
    restocks = [
        {key: row[key] for key in ("variant_id", "restocked_at", "sellable_quantity")}
        for row in sorted(
            built["second"]["restock_events"], key=lambda row: (row["variant_id"], row["restocked_at"])
        )
    ]
    assert restocks == [
        {"variant_id": V1, "restocked_at": naive("2026-11-02 09:00"), "sellable_quantity": 3},
        {"variant_id": V1, "restocked_at": naive("2026-11-04 10:00"), "sellable_quantity": 4},
        {"variant_id": V4, "restocked_at": naive("2026-11-03 11:57"), "sellable_quantity": 2},
    ]


def test_first_targets(built: dict[str, Any]) -> None:
    targets = sorted(built["first"]["notification_targets"], key=lambda row: row["target_rank"])
    assert [(row["subscription_id"], row["target_rank"]) for row in targets] == [(1, 1), (2, 2), (7, 3)]
    first = targets[0]
    assert first == {
        "target_id": first["target_id"],
        "restock_event_id": restock_id(V1, "2026-11-02 09:00:00"),
        "shop": SHOP,
        "variant_id": V1,
        "product_id": P1,
        "subscription_id": 1,
        "channel": "email",
        "contact": "a@example.com",
        "locale": "en",
        "signed_up_at": naive("2026-11-01 10:00"),
        "restocked_at": naive("2026-11-02 09:00"),
        "decided_at": naive("2026-11-02 09:05"),
        "target_rank": 1,
        "product_title": "Wool Hat",
        "variant_title": "Red",
        "product_handle": "wool-hat",
        "price": Decimal("25.00"),
        "currency_code": "EUR",
        "shop_name": "Test Shop",
    }
    assert len(first["target_id"]) == 32


def test_targets_are_frozen_and_new_ones_appear(built: dict[str, Any]) -> None:
    now = built["second"]["notification_targets"]
    before = {row["subscription_id"]: row for row in built["first"]["notification_targets"]}
    after = {row["subscription_id"]: row for row in now}
    for subscription, row in before.items():
        assert after[subscription] == row  # the title changed since: the frozen row still says "Wool Hat"
    new = {
        subscription: (row["restock_event_id"], row["target_rank"], row["product_title"])
        for subscription, row in after.items()
        if subscription not in before
    }
    r2 = restock_id(V1, "2026-11-04 10:00:00")
    r4 = restock_id(V4, "2026-11-03 11:57:00")
    assert new == {4: (r2, 1, "Wool Hat (new)"), 8: (r2, 2, "Wool Hat (new)"), 5: (r4, 1, "Rain Jacket")}


def test_orders_count_net_revenue_in_shop_currency(built: dict[str, Any]) -> None:
    """o3 was paid in USD: its revenue is Shopify's shop money. o4 was cancelled: no revenue. o1 had a V1
    line of 50 and a V4 line of 30; a 20.00 refund of the V1 line arrived on 11-05 (after the first build)."""
    first = {row["order_id"][-1]: row for row in built["first"]["orders"]}
    now = {row["order_id"][-1]: row for row in built["second"]["orders"]}
    assert (first["3"]["presentment_currency_code"], first["3"]["net_revenue"]) == ("USD", Decimal("20.00"))
    assert first["3"]["exchange_rate"] == pytest.approx(20 / 21.74)
    assert (first["4"]["is_counted"], first["4"]["net_revenue"]) == (False, Decimal("0.00"))
    assert (first["1"]["net_revenue"], first["1"]["attributed_revenue"]) == (
        Decimal("80.00"),
        Decimal("50.00"),
    )
    assert (now["1"]["refunded_revenue"], now["1"]["net_revenue"]) == (Decimal("20.00"), Decimal("60.00"))
    assert now["1"]["attributed_revenue"] == Decimal("30.00")  # the credited V1 line, net of its refund
    assert now["6"]["carries_click_token"] and now["6"]["attributed_revenue"] == Decimal("25.00")


def test_attributions_are_line_level_by_contact_or_click_token(built: dict[str, Any]) -> None:
    first = [
        (row["order_id"], row["variant_id"], row["job_id"], row["touch_type"], row["net_revenue"])
        for row in built["first"]["notification_attributions"]
    ]
    assert first == [
        ("gid://shopify/Order/1", V1, 1, "click", Decimal("50.00"))
    ]  # o1's V4 line: not in scope
    now = sorted(built["second"]["notification_attributions"], key=lambda row: row["ordered_at"])
    assert [(row["order_id"], row["job_id"], row["matched_by"], row["net_revenue"]) for row in now] == [
        ("gid://shopify/Order/1", 1, "contact", Decimal("30.00")),
        ("gid://shopify/Order/6", 1, "click_token", Decimal("25.00")),  # another email, job 1's token
        ("gid://shopify/Order/5", 1, "contact", Decimal("60.00")),  # at the click window's last instant
    ]
    assert now[0]["subscription_id"] == 1 and now[0]["notified_variant_id"] == V1
    assert now[0]["currency_code"] == "EUR"
    assert (
        built["second"]["notification_attributions_click_only"]
        == built["second"]["notification_attributions"]
    )


def test_kpi_daily_as_of_the_first_build(built: dict[str, Any]) -> None:
    daily = {row["kpi_date"].isoformat(): row for row in built["first"]["kpi_daily"]}
    assert sorted(daily) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    counts = [
        "product_viewers",
        "variant_viewers",
        "signups",
        "restocks",
        "notification_jobs",
        "notifications_attempted",
        "notifications_sent",
        "notifications_opened",
        "notifications_clicked",
        "notifications_converted",
        "attributed_orders",
        "total_orders",
    ]
    expected = {
        "2026-11-01": (6, 6, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "2026-11-02": (5, 5, 2, 1, 3, 2, 1, 1, 1, 1, 0, 2),
        "2026-11-03": (0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1),
    }
    assert {day: tuple(row[c] for c in counts) for day, row in daily.items()} == expected
    assert daily["2026-11-02"]["total_revenue"] == Decimal("50.00")  # o2 and o3 (o3 in shop money)
    assert daily["2026-11-03"]["total_revenue"] == Decimal("80.00")  # o1's two lines; o4 was cancelled
    assert daily["2026-11-03"]["attributed_revenue"] == Decimal("50.00")
    assert daily["2026-11-01"]["signup_rate"] == pytest.approx(5 / 6)
    assert daily["2026-11-02"]["signup_rate"] == pytest.approx(2 / 5)
    assert daily["2026-11-02"]["delivery_success_rate"] == 0.5
    # a cohort by send day: job 1, sent on 11-02, converted with an order placed on 11-03
    assert daily["2026-11-02"]["conversion_rate"] == 1.0
    assert daily["2026-11-03"]["conversion_rate"] == 0.0
    assert daily["2026-11-03"]["revenue_contribution"] == 50 / 80
    assert daily["2026-11-01"]["delivery_success_rate"] is None
    assert daily["2026-11-01"]["revenue_contribution"] is None
    assert {row["currency_code"] for row in daily.values()} == {"EUR"}


def test_kpi_summary(built: dict[str, Any]) -> None:
    (first,) = built["first"]["kpi_summary"]
    assert first["product_viewers"] == 10  # c1 on two days counts once
    assert (first["signups"], first["restocks"], first["notification_jobs"]) == (7, 1, 3)
    assert (first["notifications_attempted"], first["notifications_sent"]) == (3, 2)
    assert (first["notifications_opened"], first["notifications_clicked"]) == (2, 1)
    assert (first["attributed_orders"], first["attributed_revenue"]) == (1, Decimal("50.00"))
    assert (first["total_orders"], first["total_revenue"]) == (3, Decimal("130.00"))
    assert first["signup_rate"] == pytest.approx(7 / 10)
    assert first["delivery_success_rate"] == pytest.approx(2 / 3)
    assert first["conversion_rate"] == 0.5
    assert first["revenue_contribution"] == 50 / 130

    (now,) = built["second"]["kpi_summary"]
    assert (now["signups"], now["restocks"], now["notification_jobs"]) == (8, 3, 6)
    # job 1 brought three orders: still one converted job of the two sent
    assert (now["notifications_converted"], now["conversion_rate"]) == (1, 0.5)
    assert (now["attributed_orders"], now["attributed_revenue"]) == (3, Decimal("115.00"))
    assert (now["total_orders"], now["total_revenue"]) == (5, Decimal("195.00"))


def test_kpis_per_variant_channel_and_restock_event(built: dict[str, Any]) -> None:
    variants = {
        (row["kpi_date"].isoformat(), row["variant_id"]): row for row in built["first"]["kpi_variants_daily"]
    }
    v1 = variants[("2026-11-01", V1)]
    assert (v1["variant_viewers"], v1["signups"], v1["signup_rate"]) == (4, 3, 0.75)
    v4 = variants[("2026-11-03", V4)]  # o1's V4 line: revenue of its own variant, credited to no alert
    assert (v4["total_revenue"], v4["attributed_revenue"]) == (Decimal("30.00"), Decimal("0.00"))
    products = {
        (row["kpi_date"].isoformat(), row["product_id"]): row for row in built["first"]["kpi_products_daily"]
    }
    assert products[("2026-11-03", P1)]["revenue_contribution"] == 1.0
    (email_day,) = [
        row for row in built["first"]["kpi_channels_daily"] if row["kpi_date"].isoformat() == "2026-11-03"
    ]
    assert (email_day["channel"], email_day["total_revenue"], email_day["revenue_contribution"]) == (
        "email", Decimal("80.00"), 50 / 80,
    )  # fmt: skip
    by_event = {row["restock_event_id"]: row for row in built["first"]["kpi_restock_events"]}
    r1 = by_event[restock_id(V1, "2026-11-02 09:00:00")]
    assert (r1["notification_jobs"], r1["variant_id"], r1["restock_date"].isoformat()) == (
        3,
        V1,
        "2026-11-02",
    )


def test_kpi_daily_spine_fills_quiet_days(built: dict[str, Any]) -> None:
    daily = sorted(built["second"]["kpi_daily"], key=lambda row: row["kpi_date"])
    assert [row["kpi_date"].isoformat() for row in daily] == [f"2026-11-0{day}" for day in range(1, 8)]
    quiet = daily[4]  # 11-05: nothing happened
    assert (quiet["signups"], quiet["total_orders"], quiet["total_revenue"]) == (0, 0, Decimal("0.00"))
    assert quiet["signup_rate"] is None and quiet["conversion_rate"] is None


def test_a_replay_at_an_earlier_as_of_gives_the_earlier_answer(built: dict[str, Any]) -> None:
    """Decisions are append-only facts: a replay adds none, and what had been decided by then is what the
    first build decided. Everything else is recomputed from what was known then (later data is ignored: o1's
    refund, o5, o6); the KPIs count the restocks and targets decided by then (V4's restock, decided at 12:02,
    is not there yet)."""
    decisions = ("restock_events", "notification_targets", "target_releases")
    for mart in decisions:
        assert built["replay"][mart] == built["second"][mart], mart
    decided = [row for row in built["replay"]["restock_events"] if row["decided_at"] <= naive(AS_OF_1)]
    assert decided == built["first"]["restock_events"]
    for mart in MARTS:
        if mart not in decisions:
            assert built["replay"][mart] == built["first"][mart], mart


def test_the_catalog_is_one_row_per_variant_with_its_product_as_of(built: dict[str, Any]) -> None:
    """The catalog the storefront checks signups against: newest titles as of as_of, and which variants
    the restock rules apply to (tracked and DENY only)."""
    first = {row["variant_id"]: row for row in built["first"]["variants"]}
    assert sorted(first) == sorted([V1, V2, V3, V4])
    assert {variant: row["can_restock"] for variant, row in first.items()} == {
        V1: True, V2: False, V3: False, V4: True,
    }  # fmt: skip
    assert (first[V1]["product_title"], first[V1]["variant_title"], first[V1]["product_handle"]) == (
        "Wool Hat", "Red", "wool-hat",
    )  # fmt: skip
    second = {row["variant_id"]: row for row in built["second"]["variants"]}
    assert second[V1]["product_title"] == "Wool Hat (new)"


def test_detection_invariants_catch_what_breaks_them(built: dict[str, Any], tmp_path: Path) -> None:
    """The invariant tests can fail: on a copy of the built warehouse, one row that breaks each is written
    where a faulty model would have written it in the cycle as of AS_OF_2 (decided, or learned, in the hour
    before it: a cycle's tests check what it wrote, macros/checks.sql), and each test reports exactly that
    row (so the story itself passed every one of them). Errors: a second restock inside the first one's
    cooldown, a target pointing at no fired restock, a subscription answered twice. Warnings (surfaced, the
    cycle goes on): an observation of an unknown inventory item, a webhook that could not be parsed, a poll
    that stopped, late data contradicting a fired restock."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built["warehouse"], warehouse)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "INSERT INTO restock_events SELECT * REPLACE ('inside-the-cooldown' AS restock_event_id,"
            " restocked_at + INTERVAL 3 HOUR AS restocked_at, ? AS decided_at)"
            " FROM restock_events WHERE variant_id = ? ORDER BY restocked_at LIMIT 1",
            [IN_THE_CYCLE, V1],
        )
        connection.execute(
            "INSERT INTO notification_targets SELECT * REPLACE ('t-nowhere' AS target_id,"
            " 'no-such-restock' AS restock_event_id, 999 AS subscription_id, ? AS decided_at)"
            " FROM notification_targets WHERE subscription_id = 1",
            [IN_THE_CYCLE],
        )
        connection.execute(
            "INSERT INTO notification_targets SELECT * REPLACE ('t-twice' AS target_id, 99 AS target_rank,"
            " ? AS decided_at) FROM notification_targets WHERE subscription_id = 1",
            [IN_THE_CYCLE],
        )
        connection.execute(
            "INSERT INTO int_inventory_facts SELECT * REPLACE ('unknown-item' AS fact_id,"
            " (SELECT max(fact_seq) + 1 FROM int_inventory_facts) AS fact_seq,"
            " 'gid://shopify/InventoryItem/999999' AS inventory_item_id,"
            " ? AS known_at)"
            " FROM int_inventory_facts WHERE fact_kind = 'level' LIMIT 1",
            [IN_THE_CYCLE],
        )
        connection.execute(
            "INSERT INTO stg_app__inventory_level_webhooks SELECT * REPLACE (-1 AS webhook_inbox_id,"
            " 'payload is not JSON' AS parse_error, ? AS known_at) FROM stg_app__inventory_level_webhooks"
            " LIMIT 1",
            [IN_THE_CYCLE],
        )
        connection.execute(
            "INSERT INTO raw_shopify.inventory_level_reads (shop, location_id, is_full_read, levels_read,"
            " _ingested_at) VALUES (?, ?, false, 0, TIMESTAMP '2026-11-06 20:00')",
            [SHOP, L1],
        )
        connection.execute(
            "INSERT INTO restock_late_data (restock_event_id, shop, variant_id, restocked_at, decided_at,"
            " late_facts, first_learned_at, late_fact_ids, in_stock_until, contradicts)"
            " SELECT restock_event_id, shop, variant_id, restocked_at, decided_at, 1,"
            " decided_at + INTERVAL 1 HOUR, ['a-late-poll'], restocked_at + INTERVAL 2 MINUTE, true"
            " FROM restock_events WHERE variant_id = ? ORDER BY restocked_at LIMIT 1",
            [V1],
        )
    selected = (
        "restock_events notification_targets restock_late_data int_inventory_facts"
        " stg_app__inventory_level_webhooks source:shopify.inventory_level_reads"
    )
    checked = dbt(
        "test", warehouse, tmp_path, {}, "--select", selected, "--exclude-resource-type", "unit_test",
        as_of=AS_OF_2, timeout=600,
    )  # fmt: skip
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    outcomes = {row["unique_id"].split(".")[2]: (row["status"], row["failures"]) for row in results}

    def outcome(name: str) -> tuple[str, int]:
        (found,) = [value for test, value in outcomes.items() if test.startswith(name)]
        return found

    assert checked.returncode == 1, checked.stdout[-4000:]
    assert outcome("restocks_respect_their_cooldown") == ("fail", 1)
    assert outcome("relationships_notification_targets_restock_event_id") == ("fail", 1)
    assert outcome("unique_notification_targets_subscription_id") == ("fail", 1)
    assert outcome("observations_of_unknown_items") == ("warn", 1)
    assert outcome("inventory_webhooks_that_cannot_be_used") == ("warn", 1)
    assert outcome("source_fresh_as_of_shopify_inventory_level_reads") == ("warn", 1)
    assert outcome("no_fired_restock_contradicted_by_late_data") == ("warn", 1)
    failing = {test for test, (status, _) in outcomes.items() if status in ("fail", "warn", "error")}
    assert len(failing) == 7, outcomes


def test_waiting_demand_lists_sold_out_variants_with_subscribers_still_waiting(built: dict[str, Any]) -> None:
    """As of AS_OF_1, V1 is sold out again (since 11-03 07:00) and only subscription 4 still waits for it (1
    and 7 were answered by R1, 2 and 3 unsubscribed, 8 is not there yet); V4 (back, restock pending) and V2
    (CONTINUE) are not sold out. R2 answers everyone on V1: by AS_OF_2 nobody waits."""
    [row] = built["first"]["waiting_demand"]
    assert (row["variant_id"], row["demand_rank"], row["waiting_subscribers"]) == (V1, 1, 1)
    assert (row["oldest_signup_at"], row["sold_out_since"]) == (
        naive("2026-11-02 12:00"),
        naive("2026-11-03 07:00"),
    )
    assert (row["price"], row["waiting_value"], row["currency_code"]) == (
        Decimal("25.00"),
        Decimal("25.00"),
        "EUR",
    )
    assert (row["oldest_signup_age_days"], row["product_past_restocks"]) == (1.0, 1)
    assert row["as_of"] == naive(AS_OF_1)
    assert built["second"]["waiting_demand"] == []
