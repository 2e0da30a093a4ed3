"""The pipeline's published marts beside the simulator's ground truth: every KPI of every KPI mart (counts,
rates, money, per day, variant, product, channel and restock event), and the holdout's lift estimate beside
the alerts' true causal lift, which only the simulator knows.

The demo prints the table; the end-to-end test and the month-long run (tests/bench/bench_kpis_month.py)
assert on the same comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    kind: str  # count, money, rate


ROWS = (
    Row("product viewers", "product_viewers", "count"),
    Row("variant viewers", "variant_viewers", "count"),
    Row("signups", "signups", "count"),
    Row("signup rate", "signup_rate", "rate"),
    Row("restocks detected", "restocks", "count"),
    Row("notification jobs", "notification_jobs", "count"),
    Row("attempted", "notifications_attempted", "count"),
    Row("sent", "notifications_sent", "count"),
    Row("delivered", "notifications_delivered", "count"),
    Row("delivery success", "delivery_success_rate", "rate"),
    Row("opened", "notifications_opened", "count"),
    Row("open rate", "open_rate", "rate"),
    Row("clicked", "notifications_clicked", "count"),
    Row("click rate", "click_rate", "rate"),
    Row("converted", "notifications_converted", "count"),
    Row("conversion rate", "conversion_rate", "rate"),
    Row("attributed orders", "attributed_orders", "count"),
    Row("attributed revenue", "attributed_revenue", "money"),
    Row("total orders", "total_orders", "count"),
    Row("total net revenue", "total_revenue", "money"),
    Row("revenue contribution", "revenue_contribution", "rate"),
    Row("converted (clicks only)", "notifications_converted_click_only", "count"),
    Row("conversion (clicks only)", "conversion_rate_click_only", "rate"),
    Row("attributed orders (clicks)", "attributed_orders_click_only", "count"),
    Row("attributed revenue (clicks)", "attributed_revenue_click_only", "money"),
    Row("contribution (clicks only)", "revenue_contribution_click_only", "rate"),
)
NOTHING = {"count": 0, "money": "0.00", "rate": None}  # a group with no activity at all


def _missing(value: Any) -> bool:
    """Null, however it arrived (a null read from Parquet by pandas is NaN)."""
    return value is None or (isinstance(value, float) and pd.isna(value))


def agrees(kind: str, pipeline: Any, truth: Any) -> bool:
    if _missing(pipeline) or _missing(truth):
        return _missing(pipeline) and _missing(truth)
    if kind == "money":
        return Decimal(str(pipeline)).quantize(Decimal("0.01")) == Decimal(str(truth)).quantize(
            Decimal("0.01")
        )
    if kind == "rate":
        return abs(float(pipeline) - float(truth)) < 1e-9
    return int(pipeline) == int(truth)


def _shown(kind: str, value: Any, currency: str) -> str:
    if _missing(value):
        return "—"
    if kind == "money":
        return f"{Decimal(str(value)):,.2f} {currency}"
    if kind == "rate":
        return f"{float(value):.1%}"
    return f"{int(value):,}"


# --- every grain ------------------------------------------------------------------------------------------


def _day(value: Any) -> str:
    return str(value)[:10]


def _instant(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Grain:
    """A published KPI mart and the ground-truth list with the same grain, each keyed the same way."""

    mart: str
    truth_list: str
    mart_key: Callable[[dict[str, Any]], tuple]
    truth_key: Callable[[dict[str, Any]], tuple]


GRAINS = (
    Grain("kpi_daily", "daily", lambda r: (_day(r["kpi_date"]),), lambda r: (r["date"],)),
    Grain(
        "kpi_variants_daily",
        "variants_daily",
        lambda r: (_day(r["kpi_date"]), r["product_id"], r["variant_id"]),
        lambda r: (r["date"], r["product_id"], r["variant_id"]),
    ),
    Grain(
        "kpi_products_daily",
        "products_daily",
        lambda r: (_day(r["kpi_date"]), r["product_id"]),
        lambda r: (r["date"], r["product_id"]),
    ),
    Grain(
        "kpi_channels_daily",
        "channels_daily",
        lambda r: (_day(r["kpi_date"]), r["channel"]),
        lambda r: (r["date"], r["channel"]),
    ),
    Grain(
        "kpi_restock_events",
        "restock_events",
        lambda r: (r["variant_id"], _instant(r["restocked_at"])),
        lambda r: (r["variant_id"], r["restocked_at"]),
    ),
)


def _key_part(value: Any) -> Any:
    return None if _missing(value) else value


def grain_differences(grain: Grain, marts: Path, truth: dict[str, Any]) -> tuple[int, list[str]]:
    """Every KPI of every group of one published mart against the ground truth: how many figures were
    compared, and each one that differs. A group on one side only is compared with an empty group."""
    frame = pd.read_parquet(marts / f"{grain.mart}.parquet")
    pipeline = {
        tuple(_key_part(part) for part in grain.mart_key(row)): row for row in frame.to_dict("records")
    }
    expected = {tuple(grain.truth_key(row)): row for row in truth[grain.truth_list]}
    kpis = [row for row in ROWS if row.key in frame.columns]
    compared, differences = 0, []
    for key in sorted(set(pipeline) | set(expected), key=str):
        mine, theirs = pipeline.get(key, {}), expected.get(key, {})
        for kpi in kpis:
            if theirs and kpi.key not in theirs:
                continue
            ours = mine.get(kpi.key, NOTHING[kpi.kind]) if mine else NOTHING[kpi.kind]
            truth_value = theirs.get(kpi.key, NOTHING[kpi.kind])
            compared += 1
            if not agrees(kpi.kind, ours, truth_value):
                differences.append(f"{grain.mart} {key} {kpi.key}: pipeline {ours!r}, truth {truth_value!r}")
    return compared, differences


# --- the holdout's lift -----------------------------------------------------------------------------------


def lift_contains_truth(lift: dict[str, Any], truth: dict[str, Any]) -> bool | None:
    """Whether the estimate's 95 % interval holds the simulator's true causal lift (None: nothing to
    judge)."""
    true_lift = truth["lift"]["true_causal_lift"]
    low, high = lift.get("lift_ci_low"), lift.get("lift_ci_high")
    if _missing(true_lift) or _missing(low) or _missing(high):
        return None
    return float(low) - 1e-9 <= float(true_lift) <= float(high) + 1e-9


def lift_lines(lift: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    currency = truth.get("currency_code", "")
    true = truth["lift"]
    verdict = {True: "✓ inside the interval", False: "✗ outside the interval", None: "(too few targets)"}

    def group(label: str, prefix: str) -> str:
        converted, targets = lift.get(f"{prefix}_conversions", 0), lift.get(f"{prefix}_targets", 0)
        rate = _shown("rate", lift.get(f"{prefix}_conversion_rate"), currency)
        return f"{label:<28}{converted:>8} of {targets:<8}{rate:>8}"

    interval = "—"
    if not _missing(lift.get("lift_ci_low")):
        interval = f"[{float(lift['lift_ci_low']):+.1%}, {float(lift['lift_ci_high']):+.1%}]"
    estimate = "—" if _missing(lift.get("lift")) else f"{float(lift['lift']):+.1%}"
    return [
        f"holdout: {_shown('rate', lift.get('holdout_share'), currency)} of targets sent "
        f"{lift.get('window_minutes', '?')} min late; the lift is an estimate, beside last touch",
        group("treated: converted in window", "treated"),
        group("held out: converted", "held_out"),
        f"{'lift (95% interval)':<28}{estimate:>8} {interval:<18} true causal lift "
        f"{_shown('rate', true['true_causal_lift'], currency)} {verdict[lift_contains_truth(lift, truth)]}",
        f"{'incremental revenue':<28}{_shown('money', lift.get('incremental_revenue'), currency):>18}"
        f"  truly caused in window {_shown('money', true['caused_revenue'], currency)}",
    ]


def comparison_table(
    pipeline: dict[str, Any], truth: dict[str, Any], lift: dict[str, Any] | None = None
) -> tuple[str, bool]:
    """The KPI table, pipeline beside ground truth, and whether every figure agrees; then what the alerts
    really caused and, with a holdout, its lift estimate beside the true causal lift."""
    totals = truth["totals"]
    currency = truth.get("currency_code", "")
    lines = [f"{'KPI':<28}{'pipeline':>18}{'ground truth':>18}", "─" * 68]
    all_agree = True
    for row in ROWS:
        ok = agrees(row.kind, pipeline.get(row.key), totals.get(row.key))
        all_agree &= ok
        lines.append(
            f"{row.label:<28}{_shown(row.kind, pipeline.get(row.key), currency):>18}"
            f"{_shown(row.kind, totals.get(row.key), currency):>18}  {'✓' if ok else '✗ differs'}"
        )
    lines.append("─" * 68)
    caused = (
        f"{totals.get('orders_caused', 0)} orders, {_shown('money', totals.get('revenue_caused'), currency)}"
    )
    lines.append(f"really caused by alerts (simulator only): {caused}")
    if lift is not None:
        lines += ["─" * 68, *lift_lines(lift, truth)]
    return "\n".join(lines), all_agree
