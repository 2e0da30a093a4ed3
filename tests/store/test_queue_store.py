"""The queue monitor's read model on both stores: counts per shop, channel, lane and state, the oldest due
job's age, sends per lane in the window, and paused lanes with their reason."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for

from backinstock.store import jobs, lanes, queue
from backinstock.store.tables import notification_jobs, subscriptions
from dashboards.queue_page import _replayable

LANE = {
    "name": "email",
    "provider": "sendgrid",
    "channel": "email",
    "shops": None,
    "rate_per_second": 5.0,
    "burst": 1,
    "concurrency": 4,
    "per_domain_per_minute": None,
    "domain_caps": None,
    "quiet_hours": None,
    "unknown_outcome": "evidence",
}


def _sent_dead_and_pending(connection, earlier):
    """Four jobs: one sent, one dead letter, two pending."""
    ids = [signup(connection, f"p{n}@example.com") for n in range(4)]
    targets = [target_for(connection, sid, rank=rank) for rank, sid in enumerate(ids, 1)]
    jobs.enqueue_targets(connection, targets, earlier)
    claimed = jobs.claim(
        connection, lane="email", channel="email", worker_id="w", lease_seconds=60, now=earlier, limit=2
    )
    jobs.mark_sent(connection, [claimed[0].ref], NOW - timedelta(minutes=5))
    jobs.close(
        connection, claimed[1].ref, status="dead_letter", error="gave up", error_class="transient", now=NOW
    )


def test_queue_state_counts_ages_rates_and_pauses(store_engine):
    earlier = NOW - timedelta(minutes=30)
    with store_engine.begin() as connection:
        lanes.sync(connection, [LANE], earlier)
        _sent_dead_and_pending(connection, earlier)
        lanes.pause(
            connection, "email", until=NOW + timedelta(minutes=2), reason="429 from SendGrid", now=NOW
        )
        state = queue.queue_state(connection, now=NOW)
        other_shop = queue.queue_state(connection, now=NOW, shop="other.myshopify.com")
    by_lane = {(row.shop, row.channel, row.lane): row for row in state.rows}
    assert by_lane[(SHOP, "email", "email")].counts["sent"] == 1
    assert by_lane[(SHOP, "email", "email")].counts["dead_letter"] == 1
    unclaimed = by_lane[(SHOP, "email", None)]
    assert unclaimed.counts["pending"] == 2 and unclaimed.total == 2
    assert state.totals["pending"] == 2 and state.totals["sent"] == 1
    assert state.oldest_due_at == earlier and state.age(state.oldest_due_at) == timedelta(minutes=30)
    assert state.sent_per_lane == {"email": 1}
    assert state.rate_per_minute("email") == 1 / 15
    [lane] = state.lanes
    assert lane["pause_reason"] == "429 from SendGrid" and lane["paused_until"] == NOW + timedelta(minutes=2)
    assert other_shop.rows == [] and other_shop.oldest_due_at is None


def _queued(connection, count: int) -> None:
    """`count` more pending jobs (and their subscriptions), as a queue that has not been sent yet."""
    numbers = range(10_000, 10_000 + count)
    alike = {"shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1", "channel": "email", "locale": "en"}
    signed = {
        "product_id": "gid://shopify/Product/1",
        "status": "active",
        "created_at": NOW,
        "updated_at": NOW,
    }
    consent = {"consent_text": "Tell me.", "consent_method": "storefront_form", "consent_at": NOW}
    connection.execute(
        sa.insert(subscriptions),
        [{**alike, **signed, **consent, "id": n, "contact": f"q{n}@example.com"} for n in numbers],
    )
    queued = {"restock_event_id": "restock-q", "status": "pending", "context": {}, "due_at": NOW}
    made = {"created_at": NOW, "updated_at": NOW}
    connection.execute(
        sa.insert(notification_jobs),
        [
            {**alike, **queued, **made, "subscription_id": n, "contact": f"q{n}@example.com", "priority": n}
            for n in numbers
        ],
    )


def test_recent_sends_and_the_replayable_list_read_their_partial_indexes(store_engine):
    """The two console indexes a claim no longer writes to hold only sent jobs, and only dead letters and
    held jobs; their readers, in a queue of mostly pending jobs, must still find them (SQLite uses a partial
    index only when the query repeats its predicate) and the list comes in index order, without a sort."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    with store_engine.begin() as connection:
        _sent_dead_and_pending(connection, NOW - timedelta(minutes=30))
        _queued(connection, 3_000)
    with store_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")
    sa.event.listen(store_engine, "before_cursor_execute", record)
    try:
        with store_engine.connect() as connection:
            queue.queue_state(connection, now=NOW)
            [listed] = _replayable(connection, SHOP)
    finally:
        sa.event.remove(store_engine, "before_cursor_execute", record)
    assert listed["status"] == "dead_letter"
    [recent_sends] = [item for item in seen if "sent_at >" in item[0]]
    [replayable] = [item for item in seen if "last_error_class" in item[0]]
    with store_engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        for (statement, parameters), index in (
            (recent_sends, "ix_notification_jobs_sent_at"),
            (replayable, "ix_notification_jobs_replayable"),
        ):
            explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
            rows = connection.exec_driver_sql(f"{explain} {statement}", parameters)
            plan = " | ".join(str(row[-1]) for row in rows)
            assert index in plan, plan
            if index == "ix_notification_jobs_replayable":
                assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
