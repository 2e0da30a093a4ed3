"""Tracking events: product views from the storefront pixel, opens and clicks of sent notifications.

They feed the KPIs (signup rate, opened, clicked, attribution); every event is kept as it happened.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from backinstock.store.tables import notification_jobs, tracking_events

PRODUCT_VIEWED = "product_viewed"
OPEN = "open"
CLICK = "click"


def record_product_view(
    connection: sa.Connection,
    *,
    shop: str,
    client_id: str,
    variant_id: str,
    product_id: str | None,
    url: str | None,
    user_agent: str | None,
    now: datetime,
) -> None:
    connection.execute(
        sa.insert(tracking_events).values(
            shop=shop,
            event_type=PRODUCT_VIEWED,
            occurred_at=now,
            variant_id=variant_id,
            product_id=product_id,
            client_id=client_id,
            url=url,
            user_agent=user_agent,
        )
    )


def record_job_event(
    connection: sa.Connection,
    *,
    job_id: int,
    shop: str,
    event_type: str,
    url: str | None,
    user_agent: str | None,
    now: datetime,
) -> bool:
    """Record an open or click of a notification; False (nothing recorded) when the shop has no such job."""
    if event_type not in (OPEN, CLICK):
        raise ValueError(f"not a notification event: {event_type}")
    job = connection.execute(
        sa.select(
            notification_jobs.c.shop, notification_jobs.c.variant_id, notification_jobs.c.context
        ).where(notification_jobs.c.id == job_id, notification_jobs.c.shop == shop)
    ).first()
    if job is None:
        return False
    connection.execute(
        sa.insert(tracking_events).values(
            shop=job.shop,
            event_type=event_type,
            occurred_at=now,
            job_id=job_id,
            variant_id=job.variant_id,
            product_id=(job.context or {}).get("product_id"),
            url=url,
            user_agent=user_agent,
        )
    )
    return True
