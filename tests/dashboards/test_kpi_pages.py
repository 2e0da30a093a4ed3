"""The KPI dashboard and waiting-demand pages in Debian's Chromium, on the marts the session's simulated run
published (conftest's `simulated_run`: simulator, storefront and Dagster cycles over two simulated days), then
their filters, CSV exports, permissions and what a hostile product title can do."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from conftest import MARKETER, OPERATOR, Console, sign_in

from backinstock.clock import format_instant
from dashboards.kpi_definitions import COUNT_KEYS
from dashboards.kpi_pages import SHOWN_ROWS, TABLES, WAITING
from dashboards.kpi_queries import RESTOCK_COUNTS
from orchestration.defs.marts.assets import publish_mart
from orchestration.demo import DEMO_SHOP

# The shared simulated run may be this module's setup: minutes on a quiet machine, more on a loaded one.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]


def mart(console: Console, name: str) -> pd.DataFrame:
    return pd.read_parquet(console.settings.marts / f"{name}.parquet")


def card(page, key: str) -> str:
    return page.locator(f"[data-kpi={key}] .value").inner_text()


def test_the_kpi_dashboard_shows_the_runs_kpis_with_definitions_charts_and_freshness(simulated_run, page):
    console = simulated_run
    summary = mart(console, "kpi_summary").set_index("shop").loc[DEMO_SHOP]
    assert summary["notifications_sent"] > 0 and summary["signups"] > 0  # the run exercised the pipeline
    sign_in(page, console, MARKETER, "/kpis")
    page.wait_for_selector(".chart[data-drawn=true] svg", timeout=30_000)
    assert page.locator(".chart[data-drawn=true]").count() == 2
    assert card(page, "signups") == f"{summary['signups']:,}"
    assert card(page, "notifications_sent") == f"{summary['notifications_sent']:,}"
    assert card(page, "signup_rate") == f"{summary['signups'] / summary['variant_viewers']:.1%}"
    definition = page.locator("[data-kpi=conversion_rate]").get_attribute("title")
    assert "credited" in definition and "send day" in definition
    # as_of and freshness: the run ended at the plan's finish (its end plus the holdout's delay); the
    # console's clock is there too
    assert format_instant(console.clock.now()) in page.locator(".as-of").inner_text()
    assert "0 min old" in page.get_by_test_id("freshness").inner_text()
    for name in TABLES:
        assert page.locator(f"#table-{name} h2 a.csv").count() == 1, name
    daily_rows = page.locator("table[data-table=daily] tbody tr").count()
    assert daily_rows == len(mart(console, "kpi_daily").query("shop == @DEMO_SHOP"))
    assert page.locator("table[data-table=products] tbody tr").count() > 0
    assert page.locator("table[data-table=restock-events] tbody tr").count() > 0
    assert page.blocked == []  # nothing the Content-Security-Policy refused, no script error


def test_a_date_range_shows_that_days_kpis_and_its_csv_exports_agree(simulated_run, page):
    console = simulated_run
    daily = mart(console, "kpi_daily").query("shop == @DEMO_SHOP and notifications_sent > 0")
    day = daily.iloc[0]
    chosen = pd.Timestamp(day["kpi_date"]).date().isoformat()
    sign_in(page, console, MARKETER, "/kpis")
    page.fill("input[name=start]", chosen)
    page.fill("input[name=end]", chosen)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**/kpis?shop=*&start={chosen}&end={chosen}")
    assert card(page, "notifications_sent") == f"{day['notifications_sent']:,}"
    assert page.locator("table[data-table=daily] tbody tr").count() == 1
    for name in TABLES:  # every table's CSV, under the same filters, through the browser's session
        href = page.locator(f"#table-{name} a.csv").get_attribute("href")
        answer = page.request.get(console.url + href)
        assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv"), name
        rows = list(csv.DictReader(io.StringIO(answer.text())))
        if name == "daily":
            assert [row["kpi_date"] for row in rows] == [chosen]
            assert int(rows[0]["notifications_sent"]) == day["notifications_sent"]
        if name == "channels":
            assert sum(int(row["notifications_sent"]) for row in rows) == day["notifications_sent"]
        if name == "variants":
            assert sum(int(row["signups"]) for row in rows) == day["signups"]
            assert sum(Decimal(row["total_revenue"]) for row in rows) == Decimal(str(day["total_revenue"]))


def test_the_waiting_demand_page_ranks_what_to_reorder(simulated_run, page):
    console = simulated_run
    waiting = mart(console, "waiting_demand").query("shop == @DEMO_SHOP").sort_values("demand_rank")
    sign_in(page, console, MARKETER, "/waiting-demand")
    assert format_instant(console.clock.now()) in page.locator(".as-of").inner_text()
    rows = page.locator("table[data-table=waiting-demand] tbody tr")
    assert rows.count() == min(len(waiting), SHOWN_ROWS)
    assert page.get_by_test_id("waiting-total").inner_text() == str(waiting["waiting_subscribers"].sum())
    if len(waiting):
        first = rows.nth(0).locator("td")
        assert first.nth(0).inner_text() == "1"
        assert first.nth(4).inner_text() == str(waiting.iloc[0]["waiting_subscribers"])
        page.wait_for_selector(".chart[data-drawn=true] svg", timeout=30_000)
    exported = page.request.get(f"{console.url}/kpis/waiting-demand.csv?shop={DEMO_SHOP}")
    assert len(list(csv.DictReader(io.StringIO(exported.text())))) == len(waiting)
    assert page.blocked == []


def test_kpi_pages_and_exports_need_view_kpis(simulated_run):
    with simulated_run.signed_in(OPERATOR) as operator:
        for path in ("/kpis", "/waiting-demand", "/kpis/daily.csv", "/kpis/waiting-demand.csv"):
            assert operator.get(path).status_code == 403, path
    with simulated_run.client() as stranger:
        answer = stranger.get("/kpis/daily.csv")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")


def test_bad_filters_answer_400_with_the_reason(simulated_run):
    with simulated_run.signed_in(MARKETER) as marketer:
        assert marketer.get("/kpis", params={"start": "2026-11-03", "end": "2026-11-01"}).status_code == 400
        unknown = marketer.get("/kpis", params={"shop": "elsewhere.myshopify.com"})
        assert unknown.status_code == 400 and "no published KPIs for this shop" in unknown.text
        assert "start" in marketer.get("/kpis/daily.csv", params={"start": "yesterday"}).text
        assert marketer.get("/kpis/secrets.csv").status_code == 404


# --- hand-made marts: nothing published yet, and a hostile product title -----------------------------------

HOSTILE = '=HYPERLINK("http://x")<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


@pytest.fixture
def hostile_marts(console: Console) -> Console:
    """Marts (published by the pipeline's own step) whose catalog holds a product title made to attack."""
    counts = {"variant_viewers": 3, "signups": 2, "notifications_sent": 1, "total_revenue": 10.0}
    day = {"shop": "shop.myshopify.com", "kpi_date": date(2026, 11, 2), "currency_code": "EUR"}
    tables = {
        "kpi_daily": [day | counts],
        "kpi_summary": [{"shop": day["shop"]} | counts],
        "kpi_channels_daily": [day | {"channel": "email"} | counts],
        "kpi_products_daily": [day | {"product_id": "p1"} | counts],
        "kpi_variants_daily": [day | {"product_id": "p1", "variant_id": "v1"} | counts],
        "kpi_restock_events": [{"shop": day["shop"], "restock_event_id": "r1", "product_id": "p1",
                                "variant_id": "v1", "restocked_at": datetime(2026, 11, 2, 9),
                                "restock_date": day["kpi_date"], "notification_jobs": 1}],
        "variants": [{"shop": day["shop"], "product_id": "p1", "variant_id": "v1", "product_title": HOSTILE,
                      "variant_title": HOSTILE, "sku": "S"}],
        "waiting_demand": [{"shop": day["shop"], "variant_id": "v1", "product_id": "p1",
                            "product_title": HOSTILE, "variant_title": HOSTILE, "demand_rank": 1,
                            "waiting_subscribers": 4, "waiting_value": Decimal("40.00"),
                            "currency_code": "EUR", "as_of": datetime(2026, 11, 3)}],
        "notification_lift": [{"shop": day["shop"], "window_minutes": 60, "treated_targets": 90,
                               "held_out_targets": 10, "lift": 0.05, "lift_ci_low": -0.02,
                               "lift_ci_high": 0.125, "relative_lift": 0.5,
                               "incremental_revenue": Decimal("120.00")}],
    }  # fmt: skip
    _kpi_columns_complete(tables)
    with duckdb.connect(":memory:") as warehouse:
        for name, rows in tables.items():
            frame = pd.DataFrame(rows)  # noqa: F841 (read by DuckDB's replacement scan)
            warehouse.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            publish_mart(warehouse, name, console.settings.marts, datetime(2026, 11, 3, tzinfo=UTC))
    return console


def _kpi_columns_complete(tables: dict[str, list[dict]]) -> None:
    """Zeros for the counts the hand-made rows leave out, and every column of the waiting-demand table."""
    for name, rows in tables.items():
        keys = RESTOCK_COUNTS if name == "kpi_restock_events" else COUNT_KEYS
        for row in rows:
            if name.startswith("kpi_"):
                row.update({key: row.get(key, 0) for key in keys})
            if name == "waiting_demand":
                row.update({key: row.get(key, 0) for key, _heading in WAITING.columns})


def test_before_any_cycle_the_pages_say_nothing_is_published(console: Console):
    with console.signed_in("admin") as admin:
        for path in ("/kpis", "/waiting-demand"):
            answer = admin.get(path)
            assert answer.status_code == 200 and "has not published" in answer.text, path
        assert admin.get("/kpis/daily.csv").status_code == 404


def test_a_hostile_product_title_is_shown_as_text_everywhere_and_the_lift_where_published(
    hostile_marts: Console, page
):
    console = hostile_marts
    sign_in(page, console, "admin", "/kpis")
    for path in ("/kpis", "/waiting-demand"):
        page.goto(console.url + path)
        page.wait_for_selector(".chart[data-drawn=true]", timeout=30_000)
        assert page.evaluate("window.pwned") is None, path
        assert HOSTILE in page.locator("table").last.inner_text(), path
        assert page.locator("table img").count() == 0, path
    page.goto(console.url + "/kpis")
    lift = page.locator("[data-kpi=lift]")
    assert lift.locator(".value").inner_text() == "+5.0 pts"  # the holdout's estimate, where one is published
    assert "-2.0 to +12.5 pts" in lift.inner_text() and "Newcombe" in lift.get_attribute("title")
    exported = page.request.get(f"{console.url}/kpis/products.csv").text()
    [row] = csv.DictReader(io.StringIO(exported))
    assert row["product_title"] == "'" + HOSTILE  # a spreadsheet shows it as text, never runs it
