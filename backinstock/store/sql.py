"""Small dialect-neutral SQL helpers shared by the store's queries."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def _dialect_insert(connection: sa.Connection, table: sa.Table):
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no conflict-aware insert for dialect {dialect}")


def insert_ignoring_conflicts(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict],
    conflict_columns: Sequence[str],
    *,
    index_where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> int:
    """Insert rows, skipping any that collide on `conflict_columns`; returns how many were inserted.

    `index_where` names the predicate of a partial unique index (PostgreSQL needs it to find the index).
    """
    if not rows:
        return 0
    statement = _dialect_insert(connection, table).on_conflict_do_nothing(
        index_elements=list(conflict_columns), index_where=index_where
    )
    return _written(connection, statement, table, rows)


def upsert_newer(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict],
    conflict_columns: Sequence[str],
    version_column: str,
) -> int:
    """Insert rows, or overwrite the stored row when the incoming `version_column` is not older.

    Out-of-order arrivals therefore never replace a newer version. Returns rows inserted or updated.
    """
    if not rows:
        return 0
    statement = _dialect_insert(connection, table)
    updated = {name: statement.excluded[name] for name in rows[0] if name not in conflict_columns}
    statement = statement.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_=updated,
        where=statement.excluded[version_column] >= table.c[version_column],
    )
    return _written(connection, statement, table, rows)


def _written(connection: sa.Connection, statement, table: sa.Table, rows: Sequence[dict]) -> int:
    """Rows the statement wrote, counted from RETURNING: a multi-row execute's rowcount is -1 on psycopg."""
    key = next(iter(table.primary_key.columns))
    return len(connection.execute(statement.returning(key), list(rows)).all())
