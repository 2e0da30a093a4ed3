from datetime import timedelta

from seed_rows import NOW

from backinstock.store import audit


def test_actions_are_recorded_with_before_after_and_source(store_engine):
    with store_engine.begin() as connection:
        first = audit.record(
            connection,
            actor="ops@example.com",
            action="rule.update",
            target_type="rule",
            target_id="shop:cooldown_hours",
            before=24,
            after=12,
            source="203.0.113.9",
            now=NOW,
        )
        audit.record(
            connection,
            actor="cli",
            action="job.replay",
            target_type="notification_job",
            target_id="7",
            reason="provider outage over",
            source="cli",
            now=NOW + timedelta(minutes=1),
        )
    with store_engine.connect() as connection:
        newest_first = audit.entries(connection)
        only_rules = audit.entries(connection, action="rule.update")
        older = audit.entries(connection, before_id=newest_first[0]["id"])
        later = audit.entries(connection, since=NOW + timedelta(seconds=30))
    assert [row["action"] for row in newest_first] == ["job.replay", "rule.update"]
    assert [row["id"] for row in only_rules] == [first]
    assert only_rules[0]["details"] == {"before": 24, "after": 12, "source": "203.0.113.9"}
    assert only_rules[0]["occurred_at"] == NOW
    assert [row["id"] for row in older] == [first]
    assert [row["target_id"] for row in later] == ["7"]
    assert newest_first[0]["details"]["reason"] == "provider outage over"
