"""Manual releases in the operational store: a person's go for the targets a manual-release product holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import manual_releases


def add_release(
    connection: sa.Connection, *, shop: str, product_id: str, actor: str, now: datetime, reason: str | None
) -> int:
    return connection.execute(
        sa.insert(manual_releases)
        .values(shop=shop, product_id=product_id, released_at=now, released_by=actor, reason=reason)
        .returning(manual_releases.c.id)
    ).scalar_one()


def list_releases(
    connection: sa.Connection, *, shop: str | None = None, product_id: str | None = None
) -> list[dict[str, Any]]:
    """Releases, newest first."""
    columns = manual_releases.c
    filters = [
        column == value for column, value in ((columns.shop, shop), (columns.product_id, product_id)) if value
    ]
    query = sa.select(manual_releases).where(*filters).order_by(columns.id.desc())
    return [dict(row._mapping) for row in connection.execute(query)]
