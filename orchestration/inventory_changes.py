"""The reconciliation check: every few seconds, ask Shopify which inventory levels changed since the last
look (`updated_at`, a query that costs next to nothing when nothing changed), and run the alerts path once
a change to a variant people wait for can be confirmed (its debounce has passed). Webhooks can be lost or
late; this finds a restock within seconds of its confirmation instead of at the next 5-minute poll, which
stays as the safety net (it also reads every level now and then).

The cursor is the instant up to which every change has been looked at and, where it mattered, handed to an
alerts run: a change confirmable only later is looked at again on the next ticks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import dagster as dg
import sqlalchemy as sa

from backinstock.clock import format_instant, parse_instant
from backinstock.settings import Settings, load_settings
from backinstock.shopify import reads
from backinstock.shopify.client import ShopifyClient, ShopifyError
from backinstock.store.tables import LIVE_SUBSCRIPTION, subscriptions
from orchestration.common import store_engine
from orchestration.jobs import alerts_job
from orchestration.resources import run_instant
from orchestration.sensors import alerts_run_for, launch_ahead

CHECK_EVERY_SECONDS = 5
CHECK_DEADLINE_SECONDS = 15.0


def changed_levels(settings: Settings, since: datetime) -> tuple[list[dict], list[str]]:
    """Every level of every shop whose `available` changed at or after `since`, with its variant; and the
    shops that did not answer (uninstalled, down, throttled): the poll, the safety net, reads them later."""
    changes: list[dict] = []
    unanswered: list[str] = []
    for shop in settings.shops:
        # A tick is short: a Shopify that does not answer at once is left to the poll.
        with ShopifyClient(shop, max_retries=1, deadline=CHECK_DEADLINE_SECONDS) as client:
            try:
                location_ids = [location["location_id"] for location in reads.read_locations(client)]
                changes.extend(reads.read_level_changes(client, location_ids, since))
            except ShopifyError:
                unanswered.append(shop.domain)
    return changes, unanswered


def waited_for(settings: Settings, changes: Iterable[dict]) -> list[dict]:
    """The changes to variants with a live subscription (only those can send an alert soon; the rest wait
    for the poll)."""
    changes = [change for change in changes if change["variant_id"]]
    if not changes:
        return []
    table = subscriptions.c
    query = (
        sa.select(table.shop, table.variant_id)
        .where(
            sa.tuple_(table.shop, table.variant_id).in_({(c["shop"], c["variant_id"]) for c in changes}),
            sa.text(LIVE_SUBSCRIPTION),
        )
        .distinct()
    )
    with store_engine(settings.operational_store_url).connect() as store:
        waiting = set(store.execute(query).tuples())
    return [change for change in changes if (change["shop"], change["variant_id"]) in waiting]


@dg.sensor(
    name="inventory_changes",
    job=alerts_job,
    minimum_interval_seconds=CHECK_EVERY_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the alerts path once a change of stock Shopify reports for a variant people wait for "
    "can be confirmed (the reconciliation check: no webhook needed).",
)
def inventory_changes_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    settings = load_settings()
    now = run_instant(settings.clock().now())
    debounce = timedelta(minutes=settings.detection.debounce_minutes)
    if not context.cursor:
        return dg.SensorResult(
            skip_reason="watching from now on (the poll covers what came before)",
            cursor=format_instant(now - debounce),
        )
    since = parse_instant(context.cursor)
    # Changes confirmable a little ahead of now too: their run is launched at once and waits for that
    # instant (launch_ahead), unless some can be confirmed already: those go at once, alone.
    confirmable_until = now + launch_ahead(settings) - debounce
    if confirmable_until <= since:
        return dg.SkipReason("no change can be confirmed yet")
    changed, unanswered = changed_levels(settings, since)
    changes = [
        change
        for change in waited_for(settings, changed)
        if since < change["updated_at"] <= confirmable_until
    ]
    if any(change["updated_at"] <= now - debounce for change in changes):
        confirmable_until = now - debounce
        changes = [change for change in changes if change["updated_at"] <= confirmable_until]
    look_again_from = format_instant(confirmable_until)
    if not changes:
        left = f" ({', '.join(unanswered)} did not answer: the poll reads them)" if unanswered else ""
        return dg.SensorResult(
            skip_reason=f"no confirmable change to a variant people wait for{left}", cursor=look_again_from
        )
    confirmed_at = max(change["updated_at"] for change in changes) + debounce
    return alerts_run_for(
        context,
        confirmable=confirmed_at,
        now=now,
        trigger="inventory_changes",
        key=look_again_from,
        what="changes",
    )


SENSORS = [inventory_changes_sensor]
