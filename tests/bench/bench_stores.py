"""The operational store a benchmark runs on: SQLite in a folder, or a fresh schema on the PostgreSQL server
that BACKINSTOCK_TEST_POSTGRES_URL names (dropped by the returned function)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from backinstock.store.engine import create_store_engine


def store_url(kind: str, folder: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'store.db'}", lambda: None
    base = os.environ["BACKINSTOCK_TEST_POSTGRES_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_store_engine(base)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return f"{base}?options=-csearch_path%3D{schema}", drop
