"""What the asset catalog shows besides the graph: owners, kinds, column schemas and row counts, built the
same way for every asset so the UI reads alike from Shopify to the published marts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
import sqlalchemy as sa

# Owners by who answers for the asset: ingest, models and marts; the queue and its deliveries.
ANALYTICS_ENGINEERING = "team:analytics-engineering"
OPERATIONS = "team:operations"

# The groups in the order the data flows, left to right in the asset graph.
SHOPIFY = "shopify"
OPERATIONAL_COPIES = "operational_copies"
PRIVACY = "privacy"
STAGING = "staging"
INTERMEDIATE = "intermediate"
MARTS = "marts"
NOTIFICATIONS = "notifications"
PUBLISH = "publish"
GROUPS = (SHOPIFY, OPERATIONAL_COPIES, PRIVACY, STAGING, INTERMEDIATE, MARTS, NOTIFICATIONS, PUBLISH)


def column_schema(columns: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`dagster/column_schema` metadata from (name, type) pairs."""
    schema = dg.TableSchema(columns=[dg.TableColumn(name=name, type=kind) for name, kind in columns])
    return {"dagster/column_schema": schema}


def store_table_schema(table: sa.Table) -> dict[str, Any]:
    """`dagster/column_schema` of an operational store table (an asset that writes it)."""
    return column_schema((column.name, str(column.type)) for column in table.columns)


def row_count(rows: int) -> dict[str, Any]:
    """`dagster/row_count` metadata: rows in the table after this materialization."""
    return {"dagster/row_count": dg.MetadataValue.int(int(rows))}


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dg.MetadataValue:
    """A small Markdown table (a preview of a mart in the asset's page)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")
