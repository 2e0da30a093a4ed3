"""The dashboards' read side of the published marts: files written by the pipeline's own publish step
(orchestration's `publish_mart`, from a DuckDB database standing in for the warehouse), read back with an
in-memory DuckDB, and the KPI and waiting-demand queries over them."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from dashboards import kpi_queries
from dashboards.kpi_definitions import COUNT_KEYS
from dashboards.kpi_queries import Scope
from dashboards.marts import MartNotPublished, Marts
from orchestration.defs.marts.assets import publish_mart

SHOP, OTHER = "a.myshopify.com", "b.myshopify.com"
AS_OF = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def counts(**given: Any) -> dict[str, Any]:
    return dict.fromkeys(COUNT_KEYS, 0) | given


def day(shop: str, kpi_date: str, **given: Any) -> dict[str, Any]:
    return {"shop": shop, "kpi_date": date.fromisoformat(kpi_date), "currency_code": "EUR"} | counts(**given)


def publish(folder: Path, tables: dict[str, list[dict[str, Any]]], as_of: datetime = AS_OF) -> None:
    """Publish `tables` as the pipeline does: from a database through `publish_mart`."""
    with duckdb.connect(":memory:") as warehouse:
        for name, rows in tables.items():
            frame = pd.DataFrame(rows)  # noqa: F841 (read by DuckDB's replacement scan)
            warehouse.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            publish_mart(warehouse, name, folder, as_of)


@pytest.fixture
def marts(tmp_path: Path):
    folder = tmp_path / "marts"
    publish(
        folder,
        {
            "kpi_daily": [
                day(SHOP, "2026-11-01", variant_viewers=10, signups=2, total_orders=4, total_revenue=100.0),
                day(
                    SHOP,
                    "2026-11-02",
                    variant_viewers=90,
                    signups=3,
                    notifications_attempted=4,
                    notifications_sent=4,
                    notifications_delivered=3,
                    notifications_converted=1,
                    attributed_orders=1,
                    attributed_revenue=20.0,
                    total_orders=2,
                    total_revenue=60.0,
                ),
                day(SHOP, "2026-11-03", variant_viewers=0, signups=0),
                day(OTHER, "2026-11-02", variant_viewers=5, signups=5),
            ],
            "kpi_summary": [
                {"shop": SHOP} | counts(variant_viewers=80, signups=5, notifications_sent=4),
                {"shop": OTHER} | counts(variant_viewers=5, signups=5),
            ],
            "variants": [
                {
                    "shop": SHOP,
                    "product_id": "p1",
                    "variant_id": "v1",
                    "product_title": "Boots",
                    "variant_title": "42",
                    "sku": "B42",
                },
                {
                    "shop": SHOP,
                    "product_id": "p1",
                    "variant_id": "v2",
                    "product_title": "Boots",
                    "variant_title": "43",
                    "sku": "B43",
                },
                {
                    "shop": SHOP,
                    "product_id": "p2",
                    "variant_id": "v3",
                    "product_title": "Coat",
                    "variant_title": "M",
                    "sku": "CM",
                },
            ],
            "kpi_products_daily": [
                {"shop": SHOP, "kpi_date": date(2026, 11, 1), "product_id": "p1"}
                | counts(notifications_sent=2, attributed_revenue=5.0),
                {"shop": SHOP, "kpi_date": date(2026, 11, 2), "product_id": "p1"}
                | counts(notifications_sent=2, notifications_converted=1, attributed_revenue=5.0),
                {"shop": SHOP, "kpi_date": date(2026, 11, 2), "product_id": "p2"}
                | counts(notifications_sent=1, attributed_revenue=30.0),
            ],
            "waiting_demand": [
                {
                    "shop": SHOP,
                    "variant_id": "v2",
                    "demand_rank": 2,
                    "waiting_subscribers": 1,
                    "waiting_value": 10.0,
                    "as_of": datetime(2026, 11, 3, 12),
                },
                {
                    "shop": SHOP,
                    "variant_id": "v1",
                    "demand_rank": 1,
                    "waiting_subscribers": 3,
                    "waiting_value": 30.0,
                    "as_of": datetime(2026, 11, 3, 12),
                },
            ],
        },
    )
    reader = Marts(folder)
    yield reader
    reader.close()


def test_a_publication_says_what_it_is_as_of_and_when_it_appeared(marts: Marts) -> None:
    publication = marts.publication("kpi_daily")
    assert publication.as_of == AS_OF
    assert abs((publication.published_at - datetime.now(UTC)).total_seconds()) < 60
    assert marts.as_of("kpi_daily", "kpi_summary", "notification_lift") == AS_OF  # unpublished left out


def test_an_unpublished_mart_is_named_not_guessed(marts: Marts) -> None:
    with pytest.raises(MartNotPublished, match="kpi_channels_daily has not been published"):
        kpi_queries.by_channel(marts, Scope(SHOP))
    assert kpi_queries.lift(marts, SHOP) is None  # the holdout's estimate only where one is published


def test_a_new_publication_shows_on_the_next_read(marts: Marts) -> None:
    assert kpi_queries.totals(marts, Scope(SHOP))["signups"] == 5
    later = datetime(2026, 11, 3, 18, 0, tzinfo=UTC)
    publish(marts.folder, {"kpi_summary": [{"shop": SHOP} | counts(variant_viewers=80, signups=7)]}, later)
    assert kpi_queries.totals(marts, Scope(SHOP))["signups"] == 7
    assert marts.publication("kpi_summary").as_of == later
    assert marts.as_of("kpi_daily", "kpi_summary") == AS_OF  # a page is as old as its oldest source
    assert not list(marts.folder.glob(".*partial"))  # written aside, renamed into place


def test_totals_over_all_time_come_from_the_summary_and_over_a_range_from_the_days(marts: Marts) -> None:
    everything = kpi_queries.totals(marts, Scope(SHOP))
    assert (everything["signups"], everything["variant_viewers"]) == (5, 80)  # viewers distinct all time
    assert everything["signup_rate"] == pytest.approx(5 / 80)
    ranged = kpi_queries.totals(marts, Scope(SHOP, date(2026, 11, 1), date(2026, 11, 2)))
    # rates from the sums (5 / 100), not the mean of the daily rates ((2/10 + 3/90) / 2)
    assert ranged["signup_rate"] == pytest.approx(5 / 100)
    assert ranged["conversion_rate"] == pytest.approx(1 / 4)
    assert ranged["revenue_contribution"] == pytest.approx(20 / 160)
    one_day = kpi_queries.totals(marts, Scope(SHOP, date(2026, 11, 3), date(2026, 11, 3)))
    assert one_day["signup_rate"] is None and one_day["delivery_success_rate"] is None


def test_days_and_shops_stay_apart(marts: Marts) -> None:
    days = kpi_queries.daily(marts, Scope(SHOP, start=date(2026, 11, 2)))
    assert [row["kpi_date"] for row in days] == [date(2026, 11, 2), date(2026, 11, 3)]
    assert days[0]["delivery_success_rate"] == pytest.approx(3 / 4)
    assert [row["shop"] for row in kpi_queries.shops(marts)] == [SHOP, OTHER]
    assert kpi_queries.totals(marts, Scope(OTHER))["signup_rate"] == 1.0


def test_products_carry_their_titles_and_rank_by_attributed_revenue(marts: Marts) -> None:
    products = kpi_queries.by_product(marts, Scope(SHOP))
    assert [(row["product_id"], row["product_title"]) for row in products] == [
        ("p2", "Coat"),
        ("p1", "Boots"),
    ]
    assert products[1]["notifications_sent"] == 4 and products[1]["attributed_revenue"] == 10.0
    assert products[1]["conversion_rate"] == pytest.approx(1 / 4)


def test_waiting_demand_keeps_the_marts_order(marts: Marts) -> None:
    rows = kpi_queries.waiting_demand(marts, Scope(SHOP))
    assert [(row["demand_rank"], row["variant_id"]) for row in rows] == [(1, "v1"), (2, "v2")]
    assert (rows[0]["total_rows"], rows[0]["total_waiting"]) == (2, 4)
    [first] = kpi_queries.waiting_demand(marts, Scope(SHOP), limit=1)
    assert (first["variant_id"], first["total_rows"], first["total_waiting"]) == ("v1", 2, 4)
    assert kpi_queries.waiting_demand(marts, Scope(OTHER)) == []


def test_a_limited_table_still_counts_every_row(marts: Marts) -> None:
    [top] = kpi_queries.by_product(marts, Scope(SHOP), limit=1)
    assert (top["product_id"], top["product_title"], top["total_rows"]) == ("p2", "Coat", 2)
    assert top["conversion_rate"] == 0.0 and top["signup_rate"] is None  # no viewers: no rate


def test_the_console_never_opens_the_warehouse(tmp_path: Path) -> None:
    """A file at the warehouse's name that is not even a database: nothing here reads it."""
    (tmp_path / "warehouse.duckdb").write_bytes(b"not a database")
    reader = Marts(tmp_path / "marts")
    with pytest.raises(MartNotPublished):
        kpi_queries.totals(reader, Scope(SHOP))
    assert os.listdir(tmp_path) == ["warehouse.duckdb"]
