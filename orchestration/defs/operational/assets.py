"""The operational store copied into the warehouse (`raw_app.*`), so dbt can join it with Shopify data.

All tables are read in one store transaction and replaced in one warehouse transaction: the copy is a
consistent snapshot, and a failed run leaves the previous copy in place.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from backinstock.store import tables as store_tables
from backinstock.store.catalog import upsert_variants
from orchestration.asset_metadata import (
    ANALYTICS_ENGINEERING,
    OPERATIONAL_COPIES,
    OPERATIONS,
    PUBLISH,
    column_schema,
    row_count,
    store_table_schema,
)
from orchestration.common import WAREHOUSE_POOL, store_engine
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import (
    COPIED_STORE_TABLES,
    connect,
    copied_columns,
    copy_store_rows,
    ensure_raw_schema,
    fetch_rows,
    store_rows_to_copy,
    transaction,
)
from orchestration.warehouse import row_count as table_rows


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw_app", table.name],
            group_name=OPERATIONAL_COPIES,
            description=f"The operational store's `{table.name}` copied into the warehouse for dbt.",
            kinds={"python", "duckdb"},
            owners=[ANALYTICS_ENGINEERING],
            metadata=column_schema(copied_columns(table)),
        )
        for table in COPIED_STORE_TABLES
    ],
    pool=WAREHOUSE_POOL,
)
def operational_copies(settings: BackInStockSettings, clock: CycleClock) -> Iterator[dg.MaterializeResult]:
    """Subscriptions, jobs, attempts, suppressions and tracking events as of now; the new rows of the webhook
    inbox, rule changes and manual releases."""
    loaded = settings.load()
    with connect(loaded.warehouse) as warehouse:
        ensure_raw_schema(warehouse)
        with store_engine(loaded.operational_store_url).connect() as store, store.begin():
            snapshot = {
                table.name: store_rows_to_copy(store, warehouse, table) for table in COPIED_STORE_TABLES
            }
        with transaction(warehouse):
            counts = {
                table.name: copy_store_rows(warehouse, table, snapshot[table.name], clock.now())
                for table in COPIED_STORE_TABLES
            }
        totals = {name: table_rows(warehouse, f"raw_app.{name}") for name in counts}
    for name, count in counts.items():
        yield dg.MaterializeResult(
            asset_key=["raw_app", name], metadata={"rows": count, **row_count(totals[name])}
        )


CATALOG = """
SELECT shop, variant_id, product_id, product_title, variant_title, product_handle AS handle, sku, price,
       inventory_policy, is_tracked AS tracked, updated_at
FROM variants
"""


@dg.asset(
    key=["operational", "catalog_variants"],
    group_name=PUBLISH,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey("variants")],
    kinds={"python", "sqlite"},
    owners=[OPERATIONS],
    metadata=store_table_schema(store_tables.catalog_variants),
)
def catalog_variants(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """The catalog mart copied to the operational store, where the storefront checks that a signup's
    variant exists (web apps never open the warehouse)."""
    loaded = settings.load()
    with connect(loaded.warehouse, read_only=True) as warehouse:
        rows = fetch_rows(warehouse, CATALOG)
    with store_engine(loaded.operational_store_url).begin() as store:
        written = upsert_variants(store, rows, clock.now())
    return dg.MaterializeResult(metadata={"variants": len(rows), "rows_written": written})


assets = [operational_copies, catalog_variants]
