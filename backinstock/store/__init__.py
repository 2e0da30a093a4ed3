"""The operational store: SQLAlchemy Core tables, migrations and the queries every app shares."""

from __future__ import annotations

import sqlalchemy as sa

from backinstock.settings import Settings
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade


def open_store(settings: Settings, *, migrate: bool = True) -> sa.Engine:
    """An engine on the configured store, migrated to the newest schema unless told otherwise."""
    engine = create_store_engine(settings.operational_store_url)
    if migrate:
        upgrade(engine)
    return engine
