"""The webhook inbox: verified Shopify webhooks stored raw, once, for the next cycle to ingest.

Shopify redelivers a webhook with the same `X-Shopify-Webhook-Id`; the unique column makes a redelivery
a no-op, so the storefront can answer 200 fast and never store an event twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.tables import webhook_inbox


def store_webhook(
    connection: sa.Connection,
    *,
    shop: str,
    topic: str,
    webhook_id: str,
    event_id: str | None,
    api_version: str | None,
    triggered_at: datetime | None,
    payload: str,
    now: datetime,
) -> bool:
    """Store a verified webhook; True when it was new, False for a redelivery."""
    row = {
        "shop": shop,
        "topic": topic,
        "webhook_id": webhook_id,
        "event_id": event_id,
        "api_version": api_version,
        "triggered_at": triggered_at,
        "received_at": now,
        "payload": payload,
    }
    return insert_ignoring_conflicts(connection, webhook_inbox, [row], ("webhook_id",)) == 1
