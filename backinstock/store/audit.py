"""The audit log: every manual action (replay, rule edit, template publish, lane resume, user change), who did
it, from where, and the state before and after. Written in the same transaction as the action it records, so
an action without its audit row cannot commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.store.tables import audit_log


def record(
    connection: sa.Connection,
    *,
    actor: str,
    action: str,
    target_type: str,
    target_id: str | None,
    now: datetime,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    source: str | None = None,
) -> int:
    """Append one audit row; `source` says from where (an IP address, or `cli`). Returns its id."""
    details = {"before": before, "after": after, "reason": reason, "source": source}
    return connection.execute(
        sa.insert(audit_log)
        .values(
            occurred_at=now,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details={key: value for key, value in details.items() if value is not None},
        )
        .returning(audit_log.c.id)
    ).scalar_one()


def entries(
    connection: sa.Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered by whatever is given; `before_id` pages back (keyset)."""
    log = audit_log.c
    filters = [
        column == value
        for column, value in (
            (log.actor, actor),
            (log.action, action),
            (log.target_type, target_type),
            (log.target_id, target_id),
        )
        if value is not None
    ]
    if since is not None:
        filters.append(log.occurred_at >= since)
    if until is not None:
        filters.append(log.occurred_at < until)
    if before_id is not None:
        filters.append(log.id < before_id)
    rows = connection.execute(sa.select(audit_log).where(*filters).order_by(log.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]
