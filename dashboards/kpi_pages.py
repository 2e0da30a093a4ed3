"""The marketing pages: the KPI dashboard and waiting demand (what to reorder first), with CSV exports.

Both read only the published marts (dashboards/marts.py) and need `view_kpis`. Filters are a GET form (shop,
a range of the shop's days); every table has a CSV export of all its rows under the same filters.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from backinstock.kpi_marts import KPI_MARTS
from dashboards import auth, charts, kpi_queries
from dashboards.context import now_of, settings_of
from dashboards.kpi_definitions import COUNTS, DEFINITIONS, LABELS, RATES
from dashboards.kpi_queries import LIFT_MART, WAITING_MART, Scope
from dashboards.marts import MartNotPublished, Marts
from dashboards.web import NavItem, render

router = APIRouter()
NAV = (
    NavItem("view_kpis", "/kpis", "KPIs"),
    NavItem("view_kpis", "/waiting-demand", "Waiting demand"),
)
SHOWN_ROWS = 25  # per table on a page; the CSV has them all
STALE_AFTER = timedelta(hours=1)  # the cycle runs every 15 minutes
Viewer = Annotated[auth.Viewer, Depends(auth.require("view_kpis"))]


def marts_of(request: Request) -> Marts:
    """One reader of the published marts per app, opened on first use."""
    state = request.app.state
    if getattr(state, "marts", None) is None:
        state.marts = Marts(settings_of(request).marts)
    return state.marts


@dataclass(frozen=True)
class Table:
    """A table of a page and its CSV: the query, and the columns in order (key, heading)."""

    title: str
    query: Callable[[Marts, Scope, int | None], list[dict[str, Any]]]
    columns: tuple[tuple[str, str], ...]


KPI_COLUMNS = tuple((key, LABELS[key]) for key in (*(c.key for c in COUNTS), *(r.key for r in RATES)))
TABLES: dict[str, Table] = {
    "daily": Table("Per day (newest first)", kpi_queries.daily, (("kpi_date", "Day"), *KPI_COLUMNS)),
    "channels": Table("Per channel", kpi_queries.by_channel, (("channel", "Channel"), *KPI_COLUMNS)),
    "products": Table(
        "Per product",
        kpi_queries.by_product,
        (("product_title", "Product"), ("product_id", "Product id"), *KPI_COLUMNS),
    ),
    "variants": Table(
        "Per variant",
        kpi_queries.by_variant,
        (
            ("product_title", "Product"),
            ("variant_title", "Variant"),
            ("variant_id", "Variant id"),
            *KPI_COLUMNS,
        ),
    ),
    "restock-events": Table(
        "Per restock",
        kpi_queries.restock_events,
        (
            ("restocked_at", "Restocked at (UTC)"),
            ("product_title", "Product"),
            ("variant_title", "Variant"),
            *((key, LABELS.get(key, "Targets")) for key in kpi_queries.RESTOCK_COUNTS),
            ("delivery_success_rate", LABELS["delivery_success_rate"]),
            ("open_rate", LABELS["open_rate"]),
            ("click_rate", LABELS["click_rate"]),
            ("conversion_rate", LABELS["conversion_rate"]),
            ("restock_event_id", "Restock event id"),
        ),
    ),
}
WAITING = Table(
    "Waiting demand",
    kpi_queries.waiting_demand,
    (
        ("demand_rank", "Rank"),
        ("product_title", "Product"),
        ("variant_title", "Variant"),
        ("sku", "SKU"),
        ("waiting_subscribers", "Waiting"),
        ("waiting_email_subscribers", "by email"),
        ("waiting_sms_subscribers", "by SMS"),
        ("price", "Price"),
        ("waiting_value", "Waiting value"),
        ("oldest_signup_at", "Oldest signup (UTC)"),
        ("oldest_signup_age_days", "Oldest wait (days)"),
        ("sold_out_since", "Sold out since (UTC)"),
        ("product_past_restocks", "Product's past restocks"),
        ("product_past_notifications_sent", "Alerts sent then"),
        ("product_past_notifications_converted", "Converted"),
        ("product_past_conversion_rate", "Past conversion"),
        ("product_past_attributed_revenue", "Past attributed revenue"),
        ("variant_id", "Variant id"),
    ),
)
RATE_COLUMNS = {rate.key for rate in RATES} | {"product_past_conversion_rate"}
MONEY_COLUMNS = {c.key for c in COUNTS if c.money} | {
    "price",
    "waiting_value",
    "product_past_attributed_revenue",
}
HEADING_HINTS = DEFINITIONS | {
    "waiting_subscribers": "Subscriptions in effect (confirmed, not unsubscribed) no restock answered yet.",
    "waiting_value": "Waiting subscribers × the current price: one unit each, in shop currency.",
    "oldest_signup_age_days": "Days since the earliest waiting subscriber signed up (confirmed).",
    "product_past_conversion_rate": "For the product's past restocks: converted alerts / sent alerts.",
}


def cell(key: str, value: Any) -> str:
    """A value as the page shows it (the CSV keeps raw values)."""
    if value is None:
        return "–"
    if key in RATE_COLUMNS:
        return f"{value:.1%}"
    if key in MONEY_COLUMNS:
        return f"{Decimal(value):,.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (a product title starting with =, +, - or @) is
    quoted with a leading apostrophe; everything else is written as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def is_number(key: str, value: Any) -> bool:
    return isinstance(value, int | float | Decimal) or key in RATE_COLUMNS


def cells(table: Table, rows: list[dict[str, Any]]) -> list[list[tuple[str, str]]]:
    """Each row as (css class, text) per column, formatted here: a template calling a function per cell
    spends most of a page's time in those calls."""
    return [
        [("num" if is_number(key, row[key]) else "", cell(key, row[key])) for key, _ in table.columns]
        for row in rows
    ]


def _resolve_scope(
    marts: Marts, shop: str | None, start: date | None, end: date | None
) -> tuple[Scope, list]:
    """The filters after checking them against what is published; 400 naming what is wrong."""
    if start is not None and end is not None and start > end:
        raise HTTPException(400, "start: the range's first day is after its last day")
    shops = kpi_queries.shops(marts)
    known = [row["shop"] for row in shops]
    if shop is None:
        shop = known[0] if known else ""
    elif shop not in known:
        raise HTTPException(400, "shop: no published KPIs for this shop")
    return Scope(shop, start, end), shops


def _freshness(request: Request, marts: Marts, names: tuple[str, ...]) -> dict[str, Any]:
    as_of = marts.as_of(*names)
    published = [marts.publication(name).published_at for name in names if marts.is_published(name)]
    age = now_of(request) - as_of if as_of else None
    return {
        "as_of": as_of,
        "published_at": max(published) if published else None,
        "age": _duration(age) if age is not None else None,
        "stale": age is not None and age > STALE_AFTER,
    }


def _duration(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


ShopQuery = Annotated[str | None, Query(max_length=255)]
DayQuery = Annotated[date | None, Query()]


def _filters(scope: Scope) -> dict[str, str]:
    values = {"shop": scope.shop}
    if scope.start:
        values["start"] = scope.start.isoformat()
    if scope.end:
        values["end"] = scope.end.isoformat()
    return values


def _not_published(request: Request, title: str, error: MartNotPublished) -> HTMLResponse:
    return render(request, "kpi/not_published.html", {"title": title, "mart": error.mart})


@router.get("/kpis", response_class=HTMLResponse)
def kpi_dashboard(
    request: Request, _viewer: Viewer, shop: ShopQuery = None, start: DayQuery = None, end: DayQuery = None
) -> HTMLResponse:
    marts = marts_of(request)
    try:
        scope, shops = _resolve_scope(marts, shop, start, end)
        totals = kpi_queries.totals(marts, scope)
        days = kpi_queries.daily(marts, scope)  # every day, for the charts
        tables = {
            name: days[::-1] if name == "daily" else table.query(marts, scope, SHOWN_ROWS)
            for name, table in TABLES.items()
        }
        lift = kpi_queries.lift(marts, scope.shop)
        freshness = _freshness(request, marts, (*KPI_MARTS, LIFT_MART))
    except MartNotPublished as error:
        return _not_published(request, "KPIs", error)
    currency = next((row["currency_code"] for row in shops if row["shop"] == scope.shop), "")
    context = {
        "scope": scope,
        "shops": shops,
        "currency": currency,
        "filters": _filters(scope),
        "totals": totals,
        "rates": RATES,
        "counts": COUNTS,
        "lift": lift,
        "freshness": freshness,
        "tables": [
            (name, TABLES[name], cells(TABLES[name], rows[:SHOWN_ROWS]), rows[0]["total_rows"] if rows else 0)
            for name, rows in tables.items()
        ],
        "figures": [charts.to_json(charts.daily_counts(days)), charts.to_json(charts.daily_rates(days))],
        "cell": cell,
        "hints": HEADING_HINTS,
    }  # fmt: skip
    return render(request, "kpi/dashboard.html", context, as_of=freshness["as_of"])


@router.get("/waiting-demand", response_class=HTMLResponse)
def waiting_demand_page(request: Request, _viewer: Viewer, shop: ShopQuery = None) -> HTMLResponse:
    marts = marts_of(request)
    try:
        scope, shops = _resolve_scope(marts, shop, None, None)
        rows = WAITING.query(marts, scope, SHOWN_ROWS)
        freshness = _freshness(request, marts, (WAITING_MART,))
    except MartNotPublished as error:
        return _not_published(request, "Waiting demand", error)
    context = {
        "scope": scope,
        "shops": shops,
        "filters": _filters(scope),
        "table": WAITING,
        "rows": cells(WAITING, rows),
        "total_rows": rows[0]["total_rows"] if rows else 0,
        "waiting": rows[0]["total_waiting"] if rows else 0,
        "value": rows[0]["total_value"] if rows else Decimal(0),
        "currency": rows[0]["currency_code"] if rows else "",
        "freshness": freshness,
        "figure": charts.to_json(charts.waiting_bars(rows)) if rows else None,
        "cell": cell,
        "hints": HEADING_HINTS,
    }
    return render(request, "kpi/waiting_demand.html", context, as_of=freshness["as_of"])


@router.get("/kpis/{name}.csv")
def kpi_csv(
    request: Request,
    name: str,
    _viewer: Viewer,
    shop: ShopQuery = None,
    start: DayQuery = None,
    end: DayQuery = None,
) -> Response:
    """Every row of one table under the page's filters, raw values, one heading row of column keys."""
    table = WAITING if name == "waiting-demand" else TABLES.get(name)
    if table is None:
        raise HTTPException(404, f"no table named {name}")
    marts = marts_of(request)
    try:
        scope, _shops = _resolve_scope(marts, shop, start, end)
        rows = table.query(marts, scope, None)
    except MartNotPublished as error:
        raise HTTPException(404, str(error)) from None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([key for key, _ in table.columns])
    writer.writerows([spreadsheet_safe(row.get(key)) for key, _ in table.columns] for row in rows)
    parts = [name, scope.shop, str(scope.start or ""), str(scope.end or "")]
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(part for part in parts if part)) + ".csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/assets/plotly.min.js")
def plotly_js(_viewer: Annotated[auth.Viewer, Depends(auth.signed_in)]) -> FileResponse:
    """plotly.js from the installed plotly package (no CDN); cached by the browser for a day."""
    return FileResponse(
        charts.PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "private, max-age=86400"},
    )
