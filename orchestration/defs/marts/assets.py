"""Publish the marts people look at as Parquet files, for web apps that must never open the warehouse.

Each file is written beside its final name and renamed over it, so a reader sees the old file or the new
one, never half of one. Each file carries the run's `as_of` in its Parquet key-value metadata, so a reader
can say how fresh what it shows is without opening the warehouse (dashboards/marts.py).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.asset_metadata import ANALYTICS_ENGINEERING, PUBLISH, markdown_table
from orchestration.common import WAREHOUSE_POOL
from orchestration.defs.dbt.assets import dbt_as_of
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import connect, fetch_rows

PUBLISHED_MARTS = (
    "kpi_daily",
    "kpi_summary",
    "notification_lift",
    "restock_events",
    "notification_targets",
    "notification_attributions",
    "target_releases",
    "restock_late_data",
    # what the KPI and waiting-demand pages of the dashboards read
    "kpi_variants_daily",
    "kpi_products_daily",
    "kpi_channels_daily",
    "kpi_restock_events",
    "waiting_demand",
    "variants",
)


def publish_mart(warehouse: duckdb.DuckDBPyConnection, mart: str, folder: Path, as_of: datetime) -> int:
    """Write `mart` to folder/<mart>.parquet atomically, `as_of` in its metadata; returns its row count."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{mart}.parquet"
    partial = folder / f".{mart}.parquet.partial"
    warehouse.execute(
        f"COPY (SELECT * FROM {mart}) TO '{partial}' "
        f"(FORMAT parquet, KV_METADATA {{as_of: '{dbt_as_of(as_of)}'}})"
    )
    os.replace(partial, final)
    return warehouse.execute(f"SELECT count(*) FROM {mart}").fetchone()[0]


# The KPI preview on the asset's page: the figures marketing asks for first, per shop.
PREVIEW_COLUMNS = (
    "shop",
    "signups",
    "restocks",
    "notifications_sent",
    "delivery_success_rate",
    "conversion_rate",
    "attributed_orders",
    "attributed_revenue",
    "revenue_contribution",
)


@dg.asset(
    key=["published", "marts"],
    group_name=PUBLISH,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey(mart) for mart in PUBLISHED_MARTS],
    kinds={"parquet", "duckdb"},
    owners=[ANALYTICS_ENGINEERING],
)
def published_marts(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """The marts the dashboards read, as Parquet files replaced atomically (web apps never open the
    warehouse), with a preview of the all-time KPIs."""
    loaded = settings.load()
    with connect(loaded.warehouse, read_only=True) as warehouse:
        rows = {mart: publish_mart(warehouse, mart, loaded.marts, clock.now()) for mart in PUBLISHED_MARTS}
        summary = fetch_rows(warehouse, f"SELECT {', '.join(PREVIEW_COLUMNS)} FROM kpi_summary ORDER BY shop")
    return dg.MaterializeResult(
        metadata={
            "folder": str(loaded.marts),
            **{f"{m}_rows": n for m, n in rows.items()},
            "kpi_summary": markdown_table(summary, PREVIEW_COLUMNS),
        }
    )


assets = [published_marts]
