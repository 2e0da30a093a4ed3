"""Publish the marts people look at as Parquet files, for web apps that must never open the warehouse.

Each file is written beside its final name and renamed over it, so a reader sees the old file or the new
one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.common import WAREHOUSE_POOL
from orchestration.resources import BackInStockSettings
from orchestration.warehouse import connect

PUBLISHED_MARTS = (
    "kpi_daily",
    "kpi_summary",
    "restock_events",
    "notification_targets",
    "notification_attributions",
    "target_releases",
    "restock_late_data",
)


def publish_mart(warehouse: duckdb.DuckDBPyConnection, mart: str, folder: Path) -> int:
    """Write `mart` to folder/<mart>.parquet atomically; returns its row count."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{mart}.parquet"
    partial = folder / f".{mart}.parquet.partial"
    warehouse.execute(f"COPY (SELECT * FROM {mart}) TO '{partial}' (FORMAT parquet)")
    os.replace(partial, final)
    return warehouse.execute(f"SELECT count(*) FROM {mart}").fetchone()[0]


@dg.asset(
    key=["published", "marts"],
    group_name="marts",
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(mart) for mart in PUBLISHED_MARTS],
)
def published_marts(settings: BackInStockSettings) -> dg.MaterializeResult:
    loaded = settings.load()
    with connect(loaded.warehouse, read_only=True) as warehouse:
        rows = {mart: publish_mart(warehouse, mart, loaded.marts) for mart in PUBLISHED_MARTS}
    return dg.MaterializeResult(
        metadata={"folder": str(loaded.marts), **{f"{m}_rows": n for m, n in rows.items()}}
    )


assets = [published_marts]
