"""What the trace reads from the published marts: the restock event as detection decided it (quantity and
the rules in force), its frozen targets with their release batches, recent events, and the jobs credited
with an order. The store holds the jobs; the warehouse decided the rest, and the console reads only its
published Parquet files."""

from __future__ import annotations

from typing import Any

from dashboards.marts import MartNotPublished, Marts

TARGETS_SHOWN = 500
RECENT_EVENTS = 20
ORDER_GID = "gid://shopify/Order/"

EVENT = "SELECT * FROM {restock_events} WHERE restock_event_id = $event"
TARGETS = """
SELECT t.target_rank, t.subscription_id, t.channel, t.contact, t.signed_up_at, t.product_title,
       t.variant_title, r.batch_number, r.released_at, r.released_by
FROM {notification_targets} AS t
LEFT JOIN {target_releases} AS r ON r.target_id = t.target_id
WHERE t.restock_event_id = $event
ORDER BY t.target_rank
LIMIT $limit
"""
BATCHES = """
SELECT r.batch_number, count(*) AS targets, min(r.released_at) AS released_at,
       min(r.released_by) AS released_by
FROM {notification_targets} AS t
LEFT JOIN {target_releases} AS r ON r.target_id = t.target_id
WHERE t.restock_event_id = $event
GROUP BY r.batch_number
ORDER BY r.batch_number NULLS LAST
"""
RECENT = """
SELECT restock_event_id, shop, variant_id, restocked_at, decided_at, sellable_quantity, release_mode
FROM {restock_events}
ORDER BY decided_at DESC, restock_event_id
LIMIT $limit
"""
ORDER_JOBS = (
    "SELECT DISTINCT job_id FROM {notification_attributions} WHERE order_id = $order AND job_id IS NOT NULL"
)


def order_gid(text: str) -> str | None:
    """An order id as typed (a number or a gid) in gid form, else None."""
    text = text.strip()
    if text.isdigit():
        return f"{ORDER_GID}{text}"
    if text.startswith(ORDER_GID) and text.removeprefix(ORDER_GID).isdigit():
        return text
    return None


def restock_event(marts: Marts, event: str) -> dict[str, Any] | None:
    """The event, its targets (the first TARGETS_SHOWN in rank order) and its batches; None when the
    published marts do not know it (yet)."""
    try:
        found = marts.rows(EVENT, {"event": event})
        if not found:
            return None
        targets = marts.rows(TARGETS, {"event": event, "limit": TARGETS_SHOWN})
        batches = marts.rows(BATCHES, {"event": event})
    except MartNotPublished:
        return None
    return {"event": found[0], "targets": targets, "batches": batches}


def recent_events(marts: Marts) -> list[dict[str, Any]]:
    try:
        return marts.rows(RECENT, {"limit": RECENT_EVENTS})
    except MartNotPublished:
        return []


def jobs_of_order(marts: Marts, order: str) -> list[int] | None:
    """The jobs credited with the order's lines; None when attributions are not published yet."""
    try:
        return sorted(row["job_id"] for row in marts.rows(ORDER_JOBS, {"order": order}))
    except MartNotPublished:
        return None
