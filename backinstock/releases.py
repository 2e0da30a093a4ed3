"""Releasing the targets a manual-release product holds: an operator action.

Under the `release = manual` rule a restock still fires and freezes its targets, but none of them is sent
until a person releases the product. A release lets every target the product holds at that instant go
(restocks decided later are held again, until the next release). Detection (dbt) reads the releases from
the warehouse copy and marks the targets released; the enqueue step then makes their jobs. The CLI and
the console call this function.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from backinstock.rules import validate_scope
from backinstock.store import audit
from backinstock.store.releases import add_release


def release_held_targets(
    connection: sa.Connection,
    *,
    shop: str,
    product_id: str,
    actor: str,
    now: datetime,
    source: str,
    reason: str | None = None,
) -> int:
    """Release what `product_id` holds as of `now`; returns the release's id. Audited in the same
    transaction."""
    product_id = validate_scope("product", product_id)
    shop = shop.strip().lower()
    release_id = add_release(
        connection, shop=shop, product_id=product_id, actor=actor, now=now, reason=reason
    )
    audit.record(
        connection,
        actor=actor,
        action="targets.release",
        target_type="product",
        target_id=f"{shop}|{product_id}",
        after={"release_id": release_id},
        reason=reason,
        source=source,
        now=now,
    )
    return release_id
