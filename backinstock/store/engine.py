"""Connections to the operational store: SQLite in WAL mode with a busy timeout, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_store_engine(url: str) -> sa.Engine:
    """An engine for the store at `url`; for SQLite, the folder is created and WAL mode is switched on.

    Statement parameters are never put in error messages (`hide_parameters`): they hold contacts and tokens,
    and error messages end up in logs.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, future=True, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
