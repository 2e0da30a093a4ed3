"""The queue monitor's read model on both stores: counts per shop, channel, lane and state, the oldest due
job's age, sends per lane in the window, and paused lanes with their reason."""

from __future__ import annotations

from datetime import timedelta

from seed_rows import NOW, SHOP, signup, target_for

from backinstock.store import jobs, lanes, queue

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


def test_queue_state_counts_ages_rates_and_pauses(store_engine):
    earlier = NOW - timedelta(minutes=30)
    with store_engine.begin() as connection:
        lanes.sync(connection, [LANE], earlier)
        ids = [signup(connection, f"p{n}@example.com") for n in range(4)]
        targets = [target_for(connection, sid, rank=rank) for rank, sid in enumerate(ids, 1)]
        jobs.enqueue_targets(connection, targets, earlier)
        claimed = jobs.claim(
            connection, lane="email", channel="email", worker_id="w", lease_seconds=60, now=earlier, limit=2
        )
        jobs.mark_sent(connection, [claimed[0].ref], NOW - timedelta(minutes=5))
        jobs.close(
            connection,
            claimed[1].ref,
            status="dead_letter",
            error="gave up",
            error_class="transient",
            now=NOW,
        )
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
