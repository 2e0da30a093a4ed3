"""Small dialect-neutral SQL helpers shared by the store's queries.

The conflict-aware statements are built once per dialect, table and shape (`functools.cache`): a statement
object SQLAlchemy has seen before keeps its cache key and compiled form, so a hot path (a signup, a webhook)
pays for executing it, not for building and compiling it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def _dialect_insert(dialect: str, table: sa.Table):
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no conflict-aware insert for dialect {dialect}")


@cache
def ignoring_conflicts(
    dialect: str, table: sa.Table, conflict_columns: tuple[str, ...], index_where: str | None = None
) -> sa.Insert:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING <primary key>`: a row comes back only when inserted.

    `index_where` is the SQL predicate of a partial unique index (PostgreSQL needs it to find the index).
    """
    key = next(iter(table.primary_key.columns))
    return (
        _dialect_insert(dialect, table)
        .on_conflict_do_nothing(
            index_elements=list(conflict_columns),
            index_where=None if index_where is None else sa.text(index_where),
        )
        .returning(key)
    )


def insert_ignoring_conflicts(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict],
    conflict_columns: Sequence[str],
    *,
    index_where: str | None = None,
) -> int:
    """Insert rows, skipping any that collide on `conflict_columns`; returns how many were inserted."""
    if not rows:
        return 0
    statement = ignoring_conflicts(connection.dialect.name, table, tuple(conflict_columns), index_where)
    return _written(connection, statement, rows)


@cache
def _upsert_newer(
    dialect: str, table: sa.Table, columns: tuple[str, ...], conflict_columns: tuple[str, ...], version: str
) -> sa.Insert:
    statement = _dialect_insert(dialect, table)
    updated = {name: statement.excluded[name] for name in columns if name not in conflict_columns}
    key = next(iter(table.primary_key.columns))
    return statement.on_conflict_do_update(
        index_elements=list(conflict_columns),
        set_=updated,
        where=statement.excluded[version] >= table.c[version],
    ).returning(key)


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
    statement = _upsert_newer(
        connection.dialect.name, table, tuple(rows[0]), tuple(conflict_columns), version_column
    )
    return _written(connection, statement, rows)


def _written(connection: sa.Connection, statement: sa.Insert, rows: Sequence[dict]) -> int:
    """Rows the statement wrote, counted from RETURNING: a multi-row execute's rowcount is -1 on psycopg."""
    return len(connection.execute(statement, list(rows)).all())
