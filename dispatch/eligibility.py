"""Is a job still allowed to go out? Checked at send time, because opt-outs after the restock count."""

from __future__ import annotations

import sqlalchemy as sa

from backinstock.store.jobs import Job
from backinstock.store.subscriptions import ACTIVE, get_subscription
from backinstock.store.suppressions import suppression_reason


def ineligibility(connection: sa.Connection, job: Job) -> str | None:
    """Why the job must be skipped, or None when it may be sent."""
    subscription = get_subscription(connection, job.subscription_id)
    if subscription is None:
        return "subscription no longer exists"
    if subscription["status"] != ACTIVE:
        return f"subscription is {subscription['status']}"
    reason = suppression_reason(connection, shop=job.shop, channel=job.channel, contact=job.contact)
    return None if reason is None else f"contact is suppressed ({reason})"
