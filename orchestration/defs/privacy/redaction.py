"""The privacy ledger applied to the warehouse: every cycle, after dbt and before the marts are published.

The operational store is redacted when the webhook arrives (`backinstock.privacy`); its copies under
`raw_app` follow on the next copy. What the warehouse keeps on its own (Shopify's orders under
`raw_shopify`, incremental models such as `notification_targets`, tables dbt built from the copies before)
is redacted here, in place: every base table with a contact column has the redacted contacts replaced by
the same pseudonym the store uses, computed in SQL from the same digest (`backinstock.privacy.digest`,
`pseudonym`); the orders the request names lose every contact they carry; an erased shop's rows are
deleted. Rows are kept, so aggregates (the KPI marts) are unchanged. Re-applied every cycle, so data
ingested again later (a re-read order) is redacted too. Bodies of stored webhooks other than inventory
updates (orders carry personal data, and no model reads them) are blanked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from backinstock.privacy import INVENTORY_TOPIC_PREFIX, REDACTED_PAYLOAD

CONTACT_COLUMNS = ("contact", "email", "phone", "customer_email", "customer_phone", "recipient")


def _phone_like(column: str) -> str:
    return f"regexp_full_match({column}, '[0-9+() .-]+')"


def _digest(column: str) -> str:
    """`backinstock.privacy.digest` in SQL: sha256 of salt, shop and normalised contact (`$salt`)."""
    normalised = (
        f"CASE WHEN {_phone_like(column)} THEN regexp_replace({column}, '[^0-9+]', '', 'g') "
        f"ELSE lower(trim({column})) END"
    )
    return f"sha256($salt || '|' || shop || '|' || {normalised})"


def _pseudonym(column: str) -> str:
    """`backinstock.privacy.pseudonym` in SQL."""
    digest = _digest(column)
    return (
        f"CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN {_phone_like(column)} THEN '+999' || translate(substr({digest}, 1, 12), 'abcdef', '012345') "
        f"ELSE 'redacted-' || substr({digest}, 1, 20) || '@redacted.invalid' END"
    )


def _is_pseudonym(column: str) -> str:
    """The column holds what `_pseudonym` writes (never a real address: `.invalid`, country code 999)."""
    return f"""("{column}" LIKE 'redacted-%' OR "{column}" LIKE '+999%')"""


def strip_tracking_details(warehouse: duckdb.DuckDBPyConnection, before: datetime) -> int:
    """The warehouse keeps tracking events after the store's retention deleted them (KPIs of old days count
    them), but not what identifies a device: the user agent and URL of events older than `before`, and of
    the events of a redacted person's jobs (the store clears those at once; its copy here is appended, so it
    does not follow). Returns rows stripped."""
    events = '"raw_app"."tracking_events"'
    if events not in base_tables(warehouse):
        return 0
    return _count(
        warehouse,
        f"""UPDATE {events} SET user_agent = NULL, url = NULL
        WHERE (user_agent IS NOT NULL OR url IS NOT NULL)
          AND (occurred_at < $before OR job_id IN (
            SELECT id FROM "raw_app"."notification_jobs" WHERE {_is_pseudonym("contact")}))""",
        params={"before": before},
    )


def base_tables(warehouse: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """`schema.table` -> its columns, for every base table (views follow their tables)."""
    rows = warehouse.execute(
        """
        SELECT c.table_schema, c.table_name, c.column_name
        FROM information_schema.columns AS c
        JOIN information_schema.tables AS t USING (table_catalog, table_schema, table_name)
        WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('information_schema', 'pg_catalog')
        """
    ).fetchall()
    tables: dict[str, set[str]] = {}
    for schema, table, column in rows:
        tables.setdefault(f'"{schema}"."{table}"', set()).add(column)
    return tables


def apply_ledger(warehouse: duckdb.DuckDBPyConnection, ledger: dict[str, Any], salt: str) -> dict[str, int]:
    """Apply the ledger (`backinstock.privacy.ledger`) inside the caller's transaction; rows changed per
    kind of change."""
    summary = {"contacts_pseudonymised": 0, "order_rows_redacted": 0, "erased_shop_rows": 0}
    tables = base_tables(warehouse)
    digests = pd.DataFrame(
        [(shop, d) for shop, entry in ledger["redactions"].items() for d in entry["digests"]],
        columns=["shop", "digest"],
    )
    orders = pd.DataFrame(
        [(shop, o) for shop, entry in ledger["redactions"].items() for o in entry["order_ids"]],
        columns=["shop", "order_id"],
    )
    warehouse.register("redacted_digests", digests)
    warehouse.register("redacted_orders", orders)
    try:
        for table, columns in tables.items():
            if "shop" not in columns:
                continue
            contact_columns = [c for c in CONTACT_COLUMNS if c in columns]
            for column in contact_columns if len(digests) else []:
                summary["contacts_pseudonymised"] += _count(
                    warehouse,
                    f'UPDATE {table} SET "{column}" = {_pseudonym(column)} '
                    f'WHERE "{column}" IS NOT NULL AND EXISTS (SELECT 1 FROM redacted_digests AS r '
                    f"WHERE r.shop = {table}.shop AND r.digest = {_digest(column)})",
                    salt,
                )
            if contact_columns and "order_id" in columns and len(orders):
                assignments = ", ".join(f'"{c}" = {_pseudonym(c)}' for c in contact_columns)
                redacted = " AND ".join(f'("{c}" IS NULL OR {_is_pseudonym(c)})' for c in contact_columns)
                summary["order_rows_redacted"] += _count(
                    warehouse,
                    f"UPDATE {table} SET {assignments} WHERE NOT ({redacted}) AND EXISTS (SELECT 1 FROM "
                    f"redacted_orders AS r WHERE r.shop = {table}.shop AND r.order_id = {table}.order_id)",
                    salt,
                )
    finally:
        warehouse.unregister("redacted_digests")
        warehouse.unregister("redacted_orders")
    summary["erased_shop_rows"] = erase_shops(warehouse, ledger["erased_shops"], tables)
    inbox = '"raw_app"."webhook_inbox"'
    if inbox in tables:
        summary["webhook_bodies_blanked"] = _count(
            warehouse,
            f"UPDATE {inbox} SET payload = '{REDACTED_PAYLOAD}' "
            f"WHERE NOT starts_with(topic, '{INVENTORY_TOPIC_PREFIX}') AND payload <> '{REDACTED_PAYLOAD}'",
        )
    return summary


def erase_shops(
    warehouse: duckdb.DuckDBPyConnection, shops: Iterable[str], tables: dict[str, set[str]] | None = None
) -> int:
    """Delete every row of these shops from every base table (raw layers, dbt's tables, sync state), inside
    the caller's transaction; returns rows deleted."""
    listed = ", ".join("'" + shop.replace("'", "''") + "'" for shop in sorted(set(shops)))
    if not listed:
        return 0
    return sum(
        _count(warehouse, f"DELETE FROM {table} WHERE shop IN ({listed})")
        for table, columns in (tables or base_tables(warehouse)).items()
        if "shop" in columns
    )


def _count(
    warehouse: duckdb.DuckDBPyConnection,
    sql: str,
    salt: str | None = None,
    params: dict[str, Any] | None = None,
) -> int:
    given = {**({"salt": salt} if salt is not None and "$salt" in sql else {}), **(params or {})}
    cursor = warehouse.execute(sql, given or None)
    row = cursor.fetchone()
    return int(row[0]) if row else 0
