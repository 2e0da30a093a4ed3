"""Ingest assets: Shopify data polled through the Admin GraphQL API into `raw_shopify.*`.

Each stream is read incrementally by `updated_at` with a watermark kept in `raw_shopify.sync_state`, and
landed with its new watermark in one warehouse transaction, so a failed run leaves nothing half-written and
re-running it is safe (staging keeps the newest version of each row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import duckdb

from backinstock import privacy
from backinstock.click_tokens import carried_job_ids
from backinstock.settings import Settings, ShopSettings
from backinstock.shopify import reads
from backinstock.shopify.client import ShopifyAuthError, ShopifyClient
from backinstock.tokens import Keyring
from orchestration.asset_metadata import ANALYTICS_ENGINEERING, SHOPIFY, column_schema, row_count
from orchestration.common import WAREHOUSE_POOL, store_engine
from orchestration.defs.privacy.redaction import erase_shops
from orchestration.defs.shopify.sync import advance_watermark, full_read_due, read_from
from orchestration.freshness import with_freshness
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import (
    append_rows,
    connect,
    ensure_raw_schema,
    raw_shopify_columns,
    read_watermark,
    transaction,
    write_watermark,
)
from orchestration.warehouse import row_count as table_rows

KINDS = {"shopify", "duckdb"}

Batches = dict[str, list[dict[str, Any]]]


def land_stream(
    warehouse: duckdb.DuckDBPyConnection,
    shop: str,
    stream: str,
    read: Callable[[datetime | None], Batches],
    now: datetime,
    fresh: bool = False,
) -> dict[str, int]:
    """Read one stream from its watermark and append every table it yields, atomically with the new mark.
    `fresh`: the shop's first read after its data was erased: every row of the shop still in the warehouse
    is deleted in the same transaction, so its new installation starts from nothing (a full read)."""
    previous = None if fresh else read_watermark(warehouse, shop, stream)
    batches = read(read_from(previous))
    seen = [row["updated_at"] for row in batches.get(stream, []) if row.get("updated_at") is not None]
    with transaction(warehouse):
        if fresh:
            erase_shops(warehouse, [shop])
        counts = {table: append_rows(warehouse, table, rows, now) for table, rows in batches.items()}
        watermark = advance_watermark(previous, seen, now)
        if watermark is not None:
            write_watermark(warehouse, shop, stream, watermark, now)
    return counts


def _each_shop(settings: Settings) -> Iterator[tuple[ShopSettings, ShopifyClient]]:
    for shop in settings.shops:
        with ShopifyClient(shop) as client:
            yield shop, client


def _ingest(
    settings: BackInStockSettings,
    clock: CycleClock,
    stream: str,
    read: Callable[[ShopifyClient, duckdb.DuckDBPyConnection, datetime | None], Batches],
    tables: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """Land one stream for every shop; per table, the rows appended and the table's row count after.

    A shop that uninstalled the app is still asked (its token was revoked, so Shopify answers 401): the
    401 leaves it out without failing the other shops, and an answer means the merchant installed the app
    again (`privacy.reinstall`). An erased shop is asked too: when it answers, its new installation starts
    afresh (`land_stream`'s `fresh`), and nothing from before the erasure is read again."""
    loaded = settings.load()
    appended: dict[str, int] = dict.fromkeys(tables, 0)
    with store_engine(loaded.operational_store_url).connect() as store:
        states = privacy.installation_states(store, (shop.domain for shop in loaded.shops))
    not_read: list[str] = []
    with connect(loaded.warehouse) as warehouse:
        ensure_raw_schema(warehouse)
        for shop, client in _each_shop(loaded):
            state = states.get(shop.domain)
            try:
                counts = land_stream(
                    warehouse,
                    shop.domain,
                    stream,
                    lambda since, c=client: read(c, warehouse, since),
                    clock.now(),
                    fresh=state == privacy.ERASED_STATE,
                )
            except ShopifyAuthError:
                if state is None:
                    raise
                not_read.append(shop.domain)
                continue
            if state is not None:
                with store_engine(loaded.operational_store_url).begin() as store:
                    privacy.reinstall(store, shop=shop.domain, now=clock.now())
            for table, count in counts.items():
                appended[table] = appended.get(table, 0) + count
        uninstalled = {"shops_not_read": ", ".join(not_read)} if not_read else {}
        return {
            table: {"rows": count, **row_count(table_rows(warehouse, f"raw_shopify.{table}")), **uninstalled}
            for table, count in appended.items()
        }


def _spec(table: str, description: str, deps: Iterable[Any] = ()) -> dg.AssetSpec:
    return with_freshness(
        dg.AssetSpec(
            ["raw_shopify", table],
            group_name=SHOPIFY,
            description=description,
            deps=list(deps),
            kinds=KINDS,
            owners=[ANALYTICS_ENGINEERING],
            metadata=column_schema(raw_shopify_columns(table)),
        )
    )


def _asset_args(table: str) -> dict[str, Any]:
    return {
        "key": ["raw_shopify", table],
        "group_name": SHOPIFY,
        "pool": WAREHOUSE_POOL,
        "kinds": KINDS,
        "owners": [ANALYTICS_ENGINEERING],
        "metadata": column_schema(raw_shopify_columns(table)),
    }


RowReader = Callable[[ShopifyClient, duckdb.DuckDBPyConnection, datetime | None], Iterable[dict[str, Any]]]


def _ingest_table(
    settings: BackInStockSettings, clock: CycleClock, table: str, read: RowReader
) -> dg.MaterializeResult:
    """A stream that lands in one table of the same name."""
    counts = _ingest(
        settings,
        clock,
        table,
        lambda client, warehouse, since: {table: list(read(client, warehouse, since))},
        [table],
    )
    return dg.MaterializeResult(metadata=counts[table])


@dg.asset(**_asset_args("shops"))
def shops(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Each shop's currency and time zone (KPIs are reported per shop day, in shop currency)."""
    return _ingest_table(settings, clock, "shops", lambda client, _w, _since: [reads.read_shop(client)])


@dg.asset(**_asset_args("locations"))
def locations(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Every location, active or not: which ones count towards sellable stock is a rule downstream."""
    return _ingest_table(
        settings, clock, "locations", lambda client, _w, _since: reads.read_locations(client)
    )


def _last_full_read(warehouse: duckdb.DuckDBPyConnection, shop: str) -> datetime | None:
    row = warehouse.execute(
        "SELECT max(_ingested_at) FROM raw_shopify.inventory_level_reads WHERE shop = ? AND is_full_read",
        [shop],
    ).fetchone()
    return None if row[0] is None else row[0].replace(tzinfo=UTC)


def _levels_reader(every: timedelta, now: datetime) -> Callable[..., Batches]:
    """Levels changed since the watermark, or every level (inactive ones too) when a full read is due, with
    one `inventory_level_reads` row per location saying which it was."""

    def read(client: ShopifyClient, warehouse: duckdb.DuckDBPyConnection, since: datetime | None) -> Batches:
        shop = client.shop.domain
        if full_read_due(_last_full_read(warehouse, shop), now, every):
            since = None
        location_ids = [
            row[0]
            for row in warehouse.execute(
                "SELECT DISTINCT location_id FROM raw_shopify.locations WHERE shop = ? ORDER BY 1", [shop]
            ).fetchall()
        ]
        levels = list(reads.read_inventory_levels(client, location_ids, since))
        counted = {location_id: 0 for location_id in location_ids}
        for level in levels:
            counted[level["location_id"]] += 1
        return {
            "inventory_levels": levels,
            "inventory_level_reads": [
                {
                    "shop": shop,
                    "location_id": location_id,
                    "is_full_read": since is None,
                    "levels_read": count,
                }
                for location_id, count in counted.items()
            ],
        }

    return read


@dg.multi_asset(
    specs=[
        _spec(
            "inventory_levels",
            "Every polled `available` quantity per inventory level (webhooks land in the inbox).",
            deps=[locations],
        ),
        _spec(
            "inventory_level_reads",
            "One row per location per inventory poll: full reads find levels no longer returned.",
            deps=[locations],
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def inventory_levels(settings: BackInStockSettings, clock: CycleClock) -> Iterator[dg.MaterializeResult]:
    """Polled `available` quantities: the reconciliation path beside webhooks, which can be lost. A full
    read every `detection.full_inventory_read_hours` also finds levels no longer returned."""
    every = timedelta(hours=settings.load().detection.full_inventory_read_hours)
    tables = ("inventory_levels", "inventory_level_reads")
    counts = _ingest(settings, clock, "inventory_levels", _levels_reader(every, clock.now()), tables)
    for table in tables:
        yield dg.MaterializeResult(asset_key=["raw_shopify", table], metadata=counts[table])


@dg.asset(**_asset_args("products"))
def products(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Products with their title, handle and status (an archived product stops counting as sellable)."""
    return _ingest_table(
        settings, clock, "products", lambda client, _w, since: reads.read_products(client, since)
    )


@dg.asset(**_asset_args("variants"))
def variants(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Variants with their inventory item, policy (DENY/CONTINUE) and whether stock is tracked."""
    return _ingest_table(
        settings, clock, "variants", lambda client, _w, since: reads.read_variants(client, since)
    )


def order_batches(
    reads_: Iterable[reads.OrderRead], keys: Keyring, erased_at: datetime | None = None
) -> Batches:
    """Orders, their lines and refund lines as raw rows, each line tied to its order's version; the click
    tokens an order carries are verified here, with the product's keys, into `click_job_ids`. Orders
    placed up to `erased_at` (the shop's data was erased then) are left out: they stay erased."""
    batches: Batches = {"orders": [], "order_lines": [], "order_refund_lines": []}
    for read in reads_:
        order = read.order
        if erased_at is not None and order["created_at"] <= erased_at:
            continue
        job_ids = carried_job_ids(
            order["custom_attributes"], order["landing_pages"], keys, order["shop"], order["created_at"]
        )
        batches["orders"].append({**order, "click_job_ids": json.dumps(job_ids)})
        version = {"order_updated_at": order["updated_at"]}
        batches["order_lines"] += [{**line, **version} for line in read.lines]
        batches["order_refund_lines"] += [{**line, **version} for line in read.refund_lines]
    return batches


ORDER_TABLES = ("orders", "order_lines", "order_refund_lines")


ORDER_DESCRIPTIONS = {
    "orders": "Every version of every order (edits, cancellations and refunds arrive as new versions).",
    "order_lines": "The lines of each order version, with discounts and current quantities.",
    "order_refund_lines": "Refunded lines of each order version.",
}


@dg.multi_asset(
    specs=[_spec(table, ORDER_DESCRIPTIONS[table]) for table in ORDER_TABLES],
    pool=WAREHOUSE_POOL,
)
def orders(settings: BackInStockSettings, clock: CycleClock) -> Iterator[dg.MaterializeResult]:
    """Orders with their lines and refunds, incremental by `updated_at`: cancellations, refunds and edits
    arrive as new versions of the order. A shop that installed the app again after its data was erased
    starts afresh: its orders from before the erasure are not read again."""
    loaded = settings.load()
    keys = loaded.token_keys
    with store_engine(loaded.operational_store_url).connect() as store:
        erasures = privacy.erasures(store, (shop.domain for shop in loaded.shops))
    counts = _ingest(
        settings,
        clock,
        "orders",
        lambda client, _warehouse, since: order_batches(
            reads.read_orders(client, since), keys, erasures.get(client.shop.domain)
        ),
        ORDER_TABLES,
    )
    for table in ORDER_TABLES:
        yield dg.MaterializeResult(asset_key=["raw_shopify", table], metadata=counts[table])


assets = [shops, locations, inventory_levels, products, variants, orders]
