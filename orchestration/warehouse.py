"""The DuckDB warehouse's raw layer: table definitions and the writes that land data in it.

Only Dagster runs open the warehouse (one writing process at a time, serialised by the `warehouse` pool);
no web process ever does. Conventions: every instant is a naive UTC TIMESTAMP; ids are Shopify gid strings;
money is DECIMAL(14,2) in shop currency.

Every raw row says when the product learned it, so a run as of T can use only what was known at T:
`raw_shopify.*` is appended to, each row stamped `_ingested_at` (the instant of the poll that read it).
`raw_app.*` copies the operational store: most tables are replaced whole each cycle (their rows change
state); the logs that only grow (the webhook inbox, tracking events, rule changes, manual releases) are
appended to instead, so the warehouse keeps them when the store's retention deletes old rows (the KPIs of old
days stay as they were; `privacy/warehouse_redactions` strips what identifies a device from old tracking
events), each row stamped `_copied_at` and
`_known_at`: its own instant (received_at, changed_at, released_at), or the copy's instant when the row
only became visible after an earlier copy had already passed that instant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import sqlalchemy as sa

from backinstock.store import tables as store_tables

RAW_SHOPIFY_TABLES: dict[str, str] = {
    "shops": """
        shop VARCHAR NOT NULL, shop_id VARCHAR NOT NULL, name VARCHAR, currency_code VARCHAR NOT NULL,
        iana_timezone VARCHAR NOT NULL, _ingested_at TIMESTAMP NOT NULL""",
    "locations": """
        shop VARCHAR NOT NULL, location_id VARCHAR NOT NULL, name VARCHAR, is_active BOOLEAN,
        fulfills_online_orders BOOLEAN, _ingested_at TIMESTAMP NOT NULL""",
    "inventory_levels": """
        shop VARCHAR NOT NULL, inventory_level_id VARCHAR NOT NULL, inventory_item_id VARCHAR NOT NULL,
        location_id VARCHAR NOT NULL, available INTEGER, updated_at TIMESTAMP NOT NULL,
        _ingested_at TIMESTAMP NOT NULL, is_active BOOLEAN""",
    # One row per location per inventory poll: a full read returns every level (inactive ones too), so a
    # level it no longer returns has been removed.
    "inventory_level_reads": """
        shop VARCHAR NOT NULL, location_id VARCHAR NOT NULL, is_full_read BOOLEAN NOT NULL,
        levels_read INTEGER NOT NULL, _ingested_at TIMESTAMP NOT NULL""",
    "products": """
        shop VARCHAR NOT NULL, product_id VARCHAR NOT NULL, title VARCHAR, handle VARCHAR, status VARCHAR,
        updated_at TIMESTAMP NOT NULL, _ingested_at TIMESTAMP NOT NULL""",
    "variants": """
        shop VARCHAR NOT NULL, variant_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL,
        inventory_item_id VARCHAR, title VARCHAR, sku VARCHAR, price DECIMAL(14, 2),
        inventory_policy VARCHAR NOT NULL, tracked BOOLEAN NOT NULL, updated_at TIMESTAMP NOT NULL,
        _ingested_at TIMESTAMP NOT NULL""",
    # Money in shop currency (Shopify's shopMoney); `click_job_ids` are the jobs whose signed click tokens
    # the order carries, verified at ingest with the product's key (a JSON list).
    "orders": """
        shop VARCHAR NOT NULL, order_id VARCHAR NOT NULL, name VARCHAR, email VARCHAR,
        created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, cancelled_at TIMESTAMP,
        currency_code VARCHAR NOT NULL, total_price DECIMAL(14, 2) NOT NULL, custom_attributes VARCHAR,
        _ingested_at TIMESTAMP NOT NULL, phone VARCHAR, is_test BOOLEAN, presentment_currency_code VARCHAR,
        total_price_presentment DECIMAL(14, 2), current_total_price DECIMAL(14, 2), customer_id VARCHAR,
        customer_email VARCHAR, customer_phone VARCHAR, landing_pages VARCHAR, click_job_ids VARCHAR""",
    "order_lines": """
        shop VARCHAR NOT NULL, order_id VARCHAR NOT NULL, line_item_id VARCHAR NOT NULL, variant_id VARCHAR,
        product_id VARCHAR, quantity INTEGER NOT NULL, order_updated_at TIMESTAMP NOT NULL,
        _ingested_at TIMESTAMP NOT NULL, current_quantity INTEGER, original_total DECIMAL(14, 2),
        discount_total DECIMAL(14, 2), current_total DECIMAL(14, 2)""",
    "order_refund_lines": """
        shop VARCHAR NOT NULL, order_id VARCHAR NOT NULL, refund_id VARCHAR NOT NULL, refunded_at TIMESTAMP,
        line_item_id VARCHAR NOT NULL, quantity INTEGER NOT NULL, subtotal DECIMAL(14, 2),
        order_updated_at TIMESTAMP NOT NULL, _ingested_at TIMESTAMP NOT NULL""",
    "sync_state": """
        shop VARCHAR NOT NULL, stream VARCHAR NOT NULL, watermark TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL, PRIMARY KEY (shop, stream)""",
}

# The operational tables the warehouse keeps a copy of, under raw_app.
COPIED_STORE_TABLES: tuple[sa.Table, ...] = (
    store_tables.subscriptions,
    store_tables.notification_jobs,
    store_tables.notification_attempts,
    store_tables.suppressions,
    store_tables.tracking_events,
    store_tables.webhook_inbox,
    store_tables.provider_events,
    store_tables.rule_changes,
    store_tables.manual_releases,
)

# Of those, the append-only logs, copied by appending their new rows, with the column that says when each
# row happened (its `_known_at` unless it became visible late).
APPENDED_STORE_TABLES: dict[str, str] = {
    "webhook_inbox": "received_at",
    "tracking_events": "occurred_at",
    "rule_changes": "changed_at",
    "manual_releases": "released_at",
}
APPEND_COLUMNS = '"_copied_at" TIMESTAMP, "_known_at" TIMESTAMP'
# Ids re-read below the newest one copied: a row whose transaction committed after a later id's was
# invisible to the previous copy (PostgreSQL hands out ids before commit); it is appended now.
APPEND_LOOKBACK_IDS = 1000


def naive_utc(value: datetime | None) -> datetime | None:
    """The warehouse's form of an instant: naive, in UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection
    finally:
        connection.close()


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit what the block wrote, or none of it."""
    connection.begin()
    try:
        yield
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def ensure_raw_schema(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw_shopify")
    connection.execute("CREATE SCHEMA IF NOT EXISTS raw_app")
    for name, columns in RAW_SHOPIFY_TABLES.items():
        connection.execute(f"CREATE TABLE IF NOT EXISTS raw_shopify.{name} ({columns})")
        add_missing_columns(connection, "raw_shopify", name, columns)
    for table in COPIED_STORE_TABLES:
        columns = _duckdb_columns(table)
        if table.name in APPENDED_STORE_TABLES:
            # a log keeps every row it was ever given: it only gains columns
            columns += f", {APPEND_COLUMNS}"
            connection.execute(f"CREATE TABLE IF NOT EXISTS raw_app.{table.name} ({columns})")
            add_missing_columns(connection, "raw_app", table.name, columns)
            continue
        present = connection.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'raw_app' AND table_name = ? ORDER BY ordinal_position",
            [table.name],
        ).fetchall()
        if present and [name for (name,) in present] != [column.name for column in table.columns]:
            # The store's table gained columns (a migration): a copy is replaced whole every cycle anyway.
            connection.execute(f"DROP TABLE raw_app.{table.name}")
        connection.execute(f"CREATE TABLE IF NOT EXISTS raw_app.{table.name} ({columns})")


def add_missing_columns(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, columns: str
) -> list[str]:
    """Add the columns a raw table gained since the warehouse was made (nullable, so old rows stay valid);
    returns their names. Raw tables only ever gain columns."""
    existing = {
        row[0]
        for row in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    }
    added = []
    for name, kind in _column_definitions(columns):
        if name not in existing:
            connection.execute(f'ALTER TABLE {schema}.{table} ADD COLUMN "{name}" {kind}')
            added.append(name)
    return added


def _column_definitions(columns: str) -> list[tuple[str, str]]:
    """(name, type) of each column in a CREATE TABLE column list; constraints are left out."""
    parts, depth, current = [], 0, ""
    for character in columns:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    parts.append(current)
    found = []
    for part in (" ".join(p.split()) for p in parts):
        match = re.match(r'^"?(\w+)"?\s+(.+?)(?:\s+NOT NULL)?$', part)
        if match and match.group(1).upper() != "PRIMARY":
            found.append((match.group(1), match.group(2)))
    return found


def append_rows(
    connection: duckdb.DuckDBPyConnection, table: str, rows: Iterable[dict[str, Any]], ingested_at: datetime
) -> int:
    """Append rows to raw_shopify.`table`, stamping `_ingested_at`; columns are matched by name."""
    frame = pd.DataFrame([{**row, "_ingested_at": ingested_at} for row in rows])
    if frame.empty:
        return 0
    for column in frame.columns:
        if frame[column].map(lambda value: isinstance(value, datetime)).any():
            frame[column] = pd.to_datetime(frame[column].map(naive_utc))
    columns = ", ".join(f'"{column}"' for column in frame.columns)
    connection.register("incoming_rows", frame)
    try:
        connection.execute(f"INSERT INTO raw_shopify.{table} ({columns}) SELECT {columns} FROM incoming_rows")
    finally:
        connection.unregister("incoming_rows")
    return len(frame)


def fetch_rows(
    connection: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any] | None = None
) -> list[dict[str, Any]]:
    """The result of `sql` as one dict per row, keyed by column name."""
    cursor = connection.execute(sql, parameters or [])
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def read_watermark(connection: duckdb.DuckDBPyConnection, shop: str, stream: str) -> datetime | None:
    row = connection.execute(
        "SELECT watermark FROM raw_shopify.sync_state WHERE shop = ? AND stream = ?", [shop, stream]
    ).fetchone()
    return None if row is None else row[0].replace(tzinfo=UTC)


def write_watermark(
    connection: duckdb.DuckDBPyConnection, shop: str, stream: str, watermark: datetime, now: datetime
) -> None:
    connection.execute(
        """
        INSERT INTO raw_shopify.sync_state (shop, stream, watermark, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (shop, stream)
        DO UPDATE SET watermark = excluded.watermark, updated_at = excluded.updated_at
        """,
        [shop, stream, naive_utc(watermark), naive_utc(now)],
    )


def replace_copy(connection: duckdb.DuckDBPyConnection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Replace raw_app.`table` with `rows` (all of the operational table), inside the caller's transaction."""
    connection.execute(f"DELETE FROM raw_app.{table.name}")
    if not rows:
        return 0
    frame = pd.DataFrame(
        [_warehouse_row(table, row) for row in rows], columns=[c.name for c in table.columns]
    )
    connection.register("copied_rows", frame)
    try:
        connection.execute(f"INSERT INTO raw_app.{table.name} SELECT * FROM copied_rows")
    finally:
        connection.unregister("copied_rows")
    return len(frame)


def store_rows_to_copy(
    store: sa.Connection, warehouse: duckdb.DuckDBPyConnection, table: sa.Table
) -> list[dict[str, Any]]:
    """What a copy of `table` reads from the store: every row, or for an append-only log the rows from just
    below the newest id the warehouse holds (see APPEND_LOOKBACK_IDS)."""
    query = sa.select(table)
    if table.name in APPENDED_STORE_TABLES:
        newest = warehouse.execute(f"SELECT max(id) FROM raw_app.{table.name}").fetchone()[0]
        if newest is not None:
            query = query.where(table.c.id > newest - APPEND_LOOKBACK_IDS)
    return [dict(row._mapping) for row in store.execute(query.order_by(*table.primary_key.columns))]


def copy_store_rows(
    connection: duckdb.DuckDBPyConnection, table: sa.Table, rows: list[dict[str, Any]], copied_at: datetime
) -> int:
    """Land rows read by `store_rows_to_copy`, inside the caller's transaction: replace the copy, or append
    the log's rows the warehouse does not hold yet. Returns the rows written."""
    if table.name not in APPENDED_STORE_TABLES:
        return replace_copy(connection, table, rows)
    instant = APPENDED_STORE_TABLES[table.name]
    previous_copy = connection.execute(f"SELECT max(_copied_at) FROM raw_app.{table.name}").fetchone()[0]
    held = {
        row[0]
        for row in connection.execute(
            f"SELECT id FROM raw_app.{table.name} WHERE id >= ?",
            [min((row["id"] for row in rows), default=0)],
        ).fetchall()
    }
    copied_at = naive_utc(copied_at)
    new = []
    for row in rows:
        if row["id"] in held:
            continue
        converted = _warehouse_row(table, row)
        happened = converted[instant]
        late = previous_copy is not None and happened is not None and happened <= previous_copy
        new.append({**converted, "_copied_at": copied_at, "_known_at": copied_at if late else happened})
    if not new:
        return 0
    columns = [c.name for c in table.columns] + ["_copied_at", "_known_at"]
    connection.register("copied_rows", pd.DataFrame(new, columns=columns))
    try:
        names = ", ".join(f'"{name}"' for name in columns)
        connection.execute(f"INSERT INTO raw_app.{table.name} ({names}) SELECT {names} FROM copied_rows")
    finally:
        connection.unregister("copied_rows")
    return len(new)


def _warehouse_row(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for column in table.columns:
        value = row[column.name]
        if isinstance(column.type, store_tables.UTCDateTime):
            value = naive_utc(value)
        elif isinstance(column.type, sa.JSON) and value is not None:
            value = json.dumps(value, sort_keys=True, default=str)
        converted[column.name] = value
    return converted


def _duckdb_columns(table: sa.Table) -> str:
    return ", ".join(f'"{column.name}" {_duckdb_type(column.type)}' for column in table.columns)


def _duckdb_type(column_type: sa.types.TypeEngine) -> str:
    if isinstance(column_type, store_tables.UTCDateTime):
        return "TIMESTAMP"
    if isinstance(column_type, sa.Boolean):
        return "BOOLEAN"
    if isinstance(column_type, sa.Integer):
        return "BIGINT"
    if isinstance(column_type, sa.Numeric):
        return f"DECIMAL({column_type.precision or 18}, {column_type.scale or 2})"
    if isinstance(column_type, sa.Float):
        return "DOUBLE"
    if isinstance(column_type, sa.JSON):
        return "JSON"
    return "VARCHAR"


def raw_shopify_columns(table: str) -> list[tuple[str, str]]:
    """(name, type) of a raw_shopify table, as created (for the asset's column schema)."""
    return _column_definitions(RAW_SHOPIFY_TABLES[table])


def copied_columns(table: sa.Table) -> list[tuple[str, str]]:
    """(name, type) of a store table's raw_app copy (the append-only logs also carry when they were known)."""
    columns = [(column.name, _duckdb_type(column.type)) for column in table.columns]
    if table.name in APPENDED_STORE_TABLES:
        columns += [("_copied_at", "TIMESTAMP"), ("_known_at", "TIMESTAMP")]
    return columns


def row_count(connection: duckdb.DuckDBPyConnection, relation: str) -> int:
    """Rows in a warehouse table (`schema.table`, or a model in the main schema)."""
    return connection.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
