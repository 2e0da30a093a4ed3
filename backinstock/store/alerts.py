"""Alerts: conditions a person must act on (a lane stopped by an account error). One open alert per kind
and subject; acting on it (resuming the lane) resolves it. Sensors and the console read the open ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import alerts

LANE_STOPPED = "lane_stopped"


def raise_alert(connection: sa.Connection, *, kind: str, subject: str, message: str, now: datetime) -> bool:
    """Open an alert unless one of the same kind and subject is already open; True when opened."""
    table = alerts.c
    already = connection.execute(
        sa.select(table.id).where(table.kind == kind, table.subject == subject, table.resolved_at.is_(None))
    ).first()
    if already is not None:
        return False
    connection.execute(sa.insert(alerts).values(kind=kind, subject=subject, message=message, raised_at=now))
    return True


def resolve_alerts(connection: sa.Connection, *, kind: str, subject: str, by: str, now: datetime) -> int:
    table = alerts.c
    return connection.execute(
        sa.update(alerts)
        .where(table.kind == kind, table.subject == subject, table.resolved_at.is_(None))
        .values(resolved_at=now, resolved_by=by)
    ).rowcount


def open_alerts(connection: sa.Connection) -> list[dict[str, Any]]:
    table = alerts.c
    rows = connection.execute(sa.select(alerts).where(table.resolved_at.is_(None)).order_by(table.id))
    return [dict(row._mapping) for row in rows]
