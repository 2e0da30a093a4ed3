"""The demo's verdict: a KPI agrees with ground truth only when the figures really are equal."""

import math

import pandas as pd
import pytest

from orchestration.truth_comparison import (
    GRAINS,
    agrees,
    comparison_table,
    grain_differences,
    lift_contains_truth,
)


@pytest.mark.parametrize(
    ("kind", "pipeline", "truth", "expected"),
    [
        ("count", 54, 54, True),
        ("count", 14, 15, False),
        ("money", 1130.5, "1130.50", True),
        ("money", "1070.60", "1130.50", False),
        ("rate", 0.182, 0.182, True),
        ("rate", 0.182, 0.183, False),
        ("rate", math.nan, None, True),  # no viewers: null on both sides (Parquet nulls arrive as NaN)
        ("rate", math.nan, 0.0, False),
        ("count", None, 0, False),
    ],
)
def test_agrees(kind, pipeline, truth, expected):
    assert agrees(kind, pipeline, truth) is expected


def test_one_differing_kpi_fails_the_table():
    truth = {"totals": {"attributed_orders": 15, "restocks": 3}, "currency_code": "EUR"}
    table, all_agree = comparison_table({"attributed_orders": 14, "restocks": 3}, truth)
    assert not all_agree
    assert "✗ differs" in next(line for line in table.splitlines() if line.startswith("attributed orders"))


def test_a_group_missing_from_the_mart_or_a_differing_rate_is_reported(tmp_path):
    """Every group of a grain on either side is compared; a group on one side only counts as empty."""
    pd.DataFrame(
        [
            {"kpi_date": "2026-11-02", "channel": "email", "notifications_sent": 4, "conversion_rate": 0.25},
            {"kpi_date": "2026-11-03", "channel": "email", "notifications_sent": 0, "conversion_rate": None},
        ]
    ).to_parquet(tmp_path / "kpi_channels_daily.parquet")
    truth = {
        "channels_daily": [
            {"date": "2026-11-02", "channel": "email", "notifications_sent": 4, "conversion_rate": 0.5},
            {"date": "2026-11-04", "channel": "email", "notifications_sent": 2, "conversion_rate": 0.0},
        ]
    }
    grain = next(grain for grain in GRAINS if grain.mart == "kpi_channels_daily")
    compared, differences = grain_differences(grain, tmp_path, truth)
    assert compared == 6
    assert [line.split(":")[0] for line in differences] == [
        "kpi_channels_daily ('2026-11-02', 'email') conversion_rate",
        "kpi_channels_daily ('2026-11-04', 'email') notifications_sent",
        "kpi_channels_daily ('2026-11-04', 'email') conversion_rate",
    ]


@pytest.mark.parametrize(
    ("low", "high", "true_lift", "expected"),
    [(0.02, 0.3, 0.1, True), (0.02, 0.3, 0.31, False), (None, None, 0.1, None), (0.0, 0.2, None, None)],
)
def test_the_lift_verdict_asks_whether_the_interval_holds_the_true_lift(low, high, true_lift, expected):
    truth = {"lift": {"true_causal_lift": true_lift}}
    assert lift_contains_truth({"lift_ci_low": low, "lift_ci_high": high}, truth) is expected
