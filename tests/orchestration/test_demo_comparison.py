"""The demo's verdict: a KPI agrees with ground truth only when the figures really are equal."""

import math

import pytest

from orchestration.demo import agrees, comparison_table


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
