"""What every asset module shares: the warehouse pool name and one migrated store engine per URL."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa

from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade

# Every asset that opens the DuckDB warehouse runs in this pool (limit 1): DuckDB allows one writer.
WAREHOUSE_POOL = "warehouse"
WAREHOUSE_POOL_LIMIT = 1


@cache
def store_engine(url: str) -> sa.Engine:
    """The operational store at `url`, migrated once per process."""
    engine = create_store_engine(url)
    upgrade(engine)
    return engine
