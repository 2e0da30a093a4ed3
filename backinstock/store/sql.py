"""Small dialect-neutral SQL helpers shared by the store's queries."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(
    connection: sa.Connection, table: sa.Table, rows: Sequence[dict], conflict_columns: Sequence[str]
) -> int:
    """Insert rows, skipping any that collide on `conflict_columns`; returns how many were inserted."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    else:
        raise NotImplementedError(f"no conflict-free insert for dialect {dialect}")
    return connection.execute(statement, list(rows)).rowcount
