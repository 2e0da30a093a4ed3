"""May these jobs still go out? Checked at send time, for a whole batch in three queries: opt-outs,
suppressions and consent changes after the restock all count.

A job is skipped when its subscription is gone or no longer active (unsubscribed, or not confirmed: a
`pending` double opt-in is not consent), when the subscription holds no proof of consent, or when the
contact is on the shop's suppression list for the channel, or when the shop uninstalled the app.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from backinstock.privacy import UNINSTALLED, uninstalled_shops
from backinstock.store.jobs import Job
from backinstock.store.subscriptions import ACTIVE
from backinstock.store.tables import subscriptions, suppressions


def ineligible(connection: sa.Connection, jobs: Sequence[Job]) -> dict[int, str]:
    """Why each job that must be skipped must be; jobs that may be sent are absent."""
    if not jobs:
        return {}
    table = subscriptions.c
    found = {
        row.id: row
        for row in connection.execute(
            sa.select(table.id, table.status, table.consent_text, table.consent_at).where(
                table.id.in_({job.subscription_id for job in jobs})
            )
        )
    }
    listed = suppressions.c
    suppressed = {
        (row.shop, row.channel, row.contact): row.reason
        for row in connection.execute(
            sa.select(listed.shop, listed.channel, listed.contact, listed.reason).where(
                sa.tuple_(listed.shop, listed.channel, listed.contact).in_(
                    list({(job.shop, job.channel, job.contact) for job in jobs})
                )
            )
        )
    }
    uninstalled = uninstalled_shops(connection, {job.shop for job in jobs})
    reasons = {}
    for job in jobs:
        subscription = found.get(job.subscription_id)
        reason = suppressed.get((job.shop, job.channel, job.contact))
        if job.shop in uninstalled:
            reasons[job.id] = UNINSTALLED
        elif subscription is None:
            reasons[job.id] = "subscription no longer exists"
        elif subscription.status != ACTIVE:
            reasons[job.id] = f"subscription is {subscription.status}"
        elif not (subscription.consent_text or "").strip() or subscription.consent_at is None:
            reasons[job.id] = "no proof of consent"
        elif reason is not None:
            reasons[job.id] = f"contact is suppressed ({reason})"
    return reasons
