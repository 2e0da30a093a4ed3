import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW

from backinstock.store import alerts, audit, lanes
from backinstock.store.tables import lane_domain_counts

CONFIG = {
    "name": "sg",
    "provider": "sendgrid",
    "channel": "email",
    "shops": None,
    "rate_per_second": 10.0,
    "burst": 1,
    "concurrency": 8,
    "per_domain_per_minute": 5,
    "domain_caps": {"gmail.com": 3},
    "quiet_hours": "21:00-08:00",
    "unknown_outcome": "evidence",
}


@pytest.fixture
def lane(store_engine):
    with store_engine.begin() as connection:
        lanes.sync(connection, [CONFIG], NOW)
    return store_engine


def test_sync_mirrors_the_configuration_and_keeps_the_shared_state(lane):
    with lane.begin() as connection:
        lanes.pause(connection, "sg", until=NOW + timedelta(minutes=5), reason="429", now=NOW)
        lanes.sync(connection, [CONFIG | {"rate_per_second": 20.0}], NOW + timedelta(seconds=1))
        row = lanes.get_lane(connection, "sg")
    assert (row["rate_per_second"], row["domain_caps"], row["quiet_hours"]) == (
        20.0,
        {"gmail.com": 3},
        "21:00-08:00",
    )
    assert (row["paused_until"], row["pause_reason"]) == (NOW + timedelta(minutes=5), "429")


def test_slots_are_spaced_by_the_rate_and_shared_in_order(lane):
    with lane.begin() as connection:
        first = lanes.reserve_slots(connection, "sg", count=5, rate=10.0, burst=1, now=NOW)
        second = lanes.reserve_slots(connection, "sg", count=2, rate=10.0, burst=1, now=NOW)
        idle_later = lanes.reserve_slots(
            connection, "sg", count=1, rate=10.0, burst=1, now=NOW + timedelta(seconds=9)
        )
    assert first == pytest.approx(NOW.timestamp())
    assert second == pytest.approx(NOW.timestamp() + 0.5)  # after the five reserved before
    assert idle_later == pytest.approx(NOW.timestamp() + 9)  # an idle lane does not bank slots (burst 1)


def test_a_burst_allows_that_many_slots_at_once_after_idling(lane):
    with lane.begin() as connection:
        lanes.reserve_slots(connection, "sg", count=1, rate=10.0, burst=4, now=NOW)
        first = lanes.reserve_slots(
            connection, "sg", count=4, rate=10.0, burst=4, now=NOW + timedelta(seconds=5)
        )
    assert first == pytest.approx(NOW.timestamp() + 5 - 0.3)  # three slots back from now: four at once


def test_paused_or_stopped_lanes_give_no_slots(lane):
    with lane.begin() as connection:
        lanes.pause(connection, "sg", until=NOW + timedelta(seconds=30), reason="429", now=NOW)
        lanes.pause(connection, "sg", until=NOW + timedelta(seconds=10), reason="shorter", now=NOW)
        assert lanes.get_lane(connection, "sg")["paused_until"] == NOW + timedelta(seconds=30)  # later wins
        assert (
            lanes.reserve_slots(
                connection, "sg", count=1, rate=10.0, burst=1, now=NOW + timedelta(seconds=29)
            )
            is None
        )
        assert lanes.reserve_slots(
            connection, "sg", count=1, rate=10.0, burst=1, now=NOW + timedelta(seconds=30)
        )
        assert lanes.stop(connection, "sg", reason="401 bad key", now=NOW)
        assert not lanes.stop(connection, "sg", reason="401 again", now=NOW)
        assert (
            lanes.reserve_slots(connection, "sg", count=1, rate=10.0, burst=1, now=NOW + timedelta(days=1))
            is None
        )
        [alert] = alerts.open_alerts(connection)
    assert (alert["kind"], alert["subject"]) == ("lane_stopped", "sg") and "401 bad key" in alert["message"]


def test_a_person_resumes_a_stopped_lane_and_it_is_audited(lane):
    with lane.begin() as connection:
        lanes.stop(connection, "sg", reason="401 bad key", now=NOW)
        with pytest.raises(ValueError):
            lanes.resume(connection, "sg", actor="ops@example.com", now=NOW, reason="")
        with pytest.raises(LookupError):
            lanes.resume(connection, "nope", actor="ops@example.com", now=NOW, reason="x")
        after = lanes.resume(
            connection, "sg", actor="ops@example.com", now=NOW, reason="key rotated", source="cli"
        )
        [entry] = audit.entries(connection, action="lane.resume")
        assert alerts.open_alerts(connection) == []
    assert after["stopped_at"] is None and lanes.open_at(after, NOW)
    assert (entry["actor"], entry["target_id"], entry["details"]["reason"]) == (
        "ops@example.com",
        "sg",
        "key rotated",
    )
    assert (
        entry["details"]["before"]["stopped_reason"] == "401 bad key" and entry["details"]["source"] == "cli"
    )


def test_domain_caps_grant_at_most_the_cap_per_minute(lane):
    minute = NOW.replace(second=0)
    with lane.begin() as connection:
        granted = [
            lanes.reserve_domain(connection, "sg", domain="gmail.com", minute=minute, count=2, cap=3)
            for _ in range(3)
        ]
        next_minute = lanes.reserve_domain(
            connection, "sg", domain="gmail.com", minute=minute + timedelta(minutes=1), count=2, cap=3
        )
        assert lanes.prune_domain_counts(connection, minute + timedelta(minutes=1)) == 1
    assert (granted, next_minute) == ([2, 1, 0], 2)


def test_workers_on_separate_connections_share_slots_and_domain_counts(lane):
    slots, grants = [], []
    start = threading.Barrier(4)

    def work():
        start.wait()
        for _ in range(10):
            with lane.begin() as connection:
                slots.append(lanes.reserve_slots(connection, "sg", count=1, rate=10.0, burst=1, now=NOW))
                grants.append(
                    lanes.reserve_domain(connection, "sg", domain="example.com", minute=NOW, count=1, cap=25)
                )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(round(slot - NOW.timestamp(), 3) for slot in slots) == [round(n / 10, 3) for n in range(40)]
    assert sum(grants) == 25
    with lane.connect() as connection:
        assert connection.execute(sa.select(lane_domain_counts.c.sent)).scalar_one() == 25
