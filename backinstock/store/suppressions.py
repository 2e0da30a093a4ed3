"""The suppression list: contacts a shop must not message on a channel, and why.

Reasons: `unsubscribed` (the person asked; lifted by a fresh signup, which is new consent), and
`hard_bounce`, `complaint`, `invalid_address`, `manual` (kept until a person lifts them).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.tables import suppressions

UNSUBSCRIBED = "unsubscribed"
INVALID_ADDRESS = "invalid_address"
# Built once: every signup asks it.
_REASON = sa.select(suppressions.c.reason).where(
    suppressions.c.shop == sa.bindparam("shop"),
    suppressions.c.channel == sa.bindparam("channel"),
    suppressions.c.contact == sa.bindparam("contact"),
)


def suppress(
    connection: sa.Connection,
    *,
    shop: str,
    channel: str,
    contact: str,
    reason: str,
    source: str | None,
    now: datetime,
) -> bool:
    """Add the contact to the list; an existing entry (whatever its reason) is kept. True when added."""
    row = {
        "shop": shop,
        "channel": channel,
        "contact": contact,
        "reason": reason,
        "source": source,
        "created_at": now,
    }
    return insert_ignoring_conflicts(connection, suppressions, [row], ("shop", "channel", "contact")) == 1


def suppression_reason(connection: sa.Connection, *, shop: str, channel: str, contact: str) -> str | None:
    """Why the contact is suppressed, or None when it may be messaged."""
    return connection.execute(
        _REASON, {"shop": shop, "channel": channel, "contact": contact}
    ).scalar_one_or_none()


def lift_unsubscribed(connection: sa.Connection, *, shop: str, channel: str, contact: str) -> bool:
    """Remove an `unsubscribed` entry (fresh consent); other reasons stay. True when one was removed."""
    result = connection.execute(
        sa.delete(suppressions).where(
            suppressions.c.shop == shop,
            suppressions.c.channel == channel,
            suppressions.c.contact == contact,
            suppressions.c.reason == UNSUBSCRIBED,
        )
    )
    return result.rowcount == 1
