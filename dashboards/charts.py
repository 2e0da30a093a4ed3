"""Chart figures for the KPI pages, as the JSON plotly.js draws (the script comes from the installed plotly
package: no CDN). Figures are plain dicts: plotly's Python figure classes validate every property and cost
tens of milliseconds a chart, which a page must not spend; plotly.js reads the same JSON.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly

from dashboards.kpi_definitions import LABELS

PLOTLY_JS = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
COLORS = ("#1f5fbf", "#d9822b", "#1d7a3a", "#a3261b", "#6b4fbb")
LAYOUT = {
    "height": 300,
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "legend": {"orientation": "h", "y": -0.2},
    "paper_bgcolor": "#ffffff",
    "plot_bgcolor": "#ffffff",
    "font": {"family": "system-ui, sans-serif", "size": 12},
}

DAY_MS = 86_400_000


def days_axis(days: list[dict[str, Any]]) -> dict[str, Any]:
    """A date axis labelled by day; one tick a day when there are few (not one every 12 hours)."""
    return {"type": "date", "tickformat": "%b %d"} | ({"dtick": DAY_MS} if len(days) <= 14 else {})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def to_json(figure: dict[str, Any]) -> str:
    return json.dumps(figure, default=_plain, separators=(",", ":"))


def daily_counts(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Signups, alerts sent and attributed orders per day."""
    x = [row["kpi_date"] for row in days]
    keys = ("signups", "notifications_sent", "attributed_orders")
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": LABELS[key], "x": x,
             "y": [row[key] for row in days], "line": {"color": color}}
            for key, color in zip(keys, COLORS, strict=False)
        ],
        "layout": LAYOUT | {"title": {"text": "Per day"}, "xaxis": days_axis(days),
                            "yaxis": {"rangemode": "tozero"}},
    }  # fmt: skip


def daily_rates(days: list[dict[str, Any]]) -> dict[str, Any]:
    """The main rates per day (a gap where a day has no denominator)."""
    x = [row["kpi_date"] for row in days]
    keys = ("signup_rate", "delivery_success_rate", "conversion_rate", "revenue_contribution")
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": LABELS[key], "x": x,
             "y": [row[key] for row in days], "line": {"color": color}, "connectgaps": False}
            for key, color in zip(keys, COLORS, strict=False)
        ],
        "layout": LAYOUT | {"title": {"text": "Rates per day"}, "xaxis": days_axis(days),
                            "yaxis": {"tickformat": ".0%", "rangemode": "tozero"}},
    }  # fmt: skip


def waiting_bars(rows: list[dict[str, Any]], top: int = 15) -> dict[str, Any]:
    """The `top` variants by waiting subscribers, the first at the top."""
    shown = rows[:top][::-1]
    labels = [f"{row['product_title'] or row['variant_id']} · {row['variant_title'] or ''}" for row in shown]
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": "Waiting subscribers", "y": labels,
             "x": [row["waiting_subscribers"] for row in shown], "marker": {"color": COLORS[0]},
             "customdata": [row["waiting_value"] for row in shown],
             "hovertemplate": "%{y}<br>%{x} waiting, worth %{customdata}<extra></extra>"}
        ],
        "layout": LAYOUT | {
            "title": {"text": f"Top {len(shown)} sold-out variants by waiting subscribers"},
            "height": max(260, 40 + 24 * len(shown)), "margin": {"l": 220, "r": 20, "t": 40, "b": 30},
            "xaxis": {"rangemode": "tozero", "tickformat": ",d", "dtick": 1 if shown and max(
                row["waiting_subscribers"] for row in shown) < 10 else None},
        },
    }  # fmt: skip
