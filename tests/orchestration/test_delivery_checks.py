"""The checks beside the dispatch asset fail when deliveries are in trouble: a lane stopped or paused long,
dead letters over the threshold, a due job left waiting; on a real SQLite store, through the checks as the
dispatch job runs them."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from backinstock.store import lanes
from backinstock.store.engine import create_store_engine
from backinstock.store.jobs import DEAD_LETTER, enqueue_targets
from backinstock.store.migrate import upgrade
from backinstock.store.tables import notification_jobs
from orchestration.definitions import defs
from orchestration.defs.notifications.checks import (
    dead_letters,
    dead_letters_result,
    lanes_result,
    lanes_sending,
    oldest_pending_age,
    oldest_pending_result,
)
from orchestration.resources import BackInStockSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store

from seed_rows import NOW, signup, target_for

LANE = {"name": "email", "stopped_at": None, "paused_until": None, "pause_reason": None}
EMAIL_LANE = {
    "name": "email", "provider": "sendgrid", "channel": "email", "shops": None, "rate_per_second": None,
    "burst": 1, "concurrency": 4, "per_domain_per_minute": None, "domain_caps": None, "quiet_hours": None,
    "unknown_outcome": "hold",
}  # fmt: skip


def test_lanes_fail_when_stopped_or_paused_long():
    assert lanes_result([LANE], NOW, timedelta(minutes=5)).passed
    short = {**LANE, "paused_until": NOW + timedelta(seconds=30), "pause_reason": "429"}
    assert lanes_result([short], NOW, timedelta(minutes=5)).passed, "a short pause after a 429 is routine"
    long = {**short, "paused_until": NOW + timedelta(minutes=30)}
    paused = lanes_result([long], NOW, timedelta(minutes=5))
    assert not paused.passed and paused.severity == dg.AssetCheckSeverity.WARN
    stopped = lanes_result([LANE, {**LANE, "name": "sms", "stopped_at": NOW}], NOW, timedelta(minutes=5))
    assert not stopped.passed and stopped.severity == dg.AssetCheckSeverity.ERROR
    assert stopped.metadata["lanes"].data == {"email": "sending", "sms": "stopped"}


def test_dead_letters_fail_over_the_threshold():
    assert dead_letters_result({DEAD_LETTER: 10}, 10).passed
    assert not dead_letters_result({DEAD_LETTER: 11, "sent": 500}, 10).passed


def test_a_due_job_waiting_too_long_fails():
    assert oldest_pending_result(None, NOW, timedelta(minutes=10)).passed
    assert oldest_pending_result(NOW - timedelta(minutes=10), NOW, timedelta(minutes=10)).passed
    assert not oldest_pending_result(NOW - timedelta(minutes=11), NOW, timedelta(minutes=10)).passed


def test_the_dispatch_job_runs_the_checks():
    checks = defs.resolve_job_def("dispatch").asset_layer.asset_graph.asset_check_keys
    assert {key.name for key in checks} == {"lanes_sending", "dead_letters", "oldest_pending_age"}


def test_the_checks_read_the_store(tmp_path):
    clock = tmp_path / "clock"
    clock.write_text((NOW + timedelta(minutes=30)).isoformat())
    config = tmp_path / "backinstock.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nclock_file = "{clock}"\n[alerts]\ndead_letters_over = 0\n')
    settings = BackInStockSettings(config_file=str(config))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'backinstock.db'}")
    upgrade(engine)
    assert lanes_sending(settings=settings).passed and oldest_pending_age(settings=settings).passed

    with engine.begin() as store:
        targets = [target_for(store, signup(store, f"shopper{n}@example.com", variant=n)) for n in (1, 2)]
        enqueue_targets(store, targets, NOW)  # due at NOW: 30 minutes ago by the clock
        lanes.sync(store, [EMAIL_LANE], NOW)
        lanes.stop(store, "email", reason="401 from the provider", now=NOW)
        jobs = notification_jobs.c
        first = sa.select(sa.func.min(jobs.id)).scalar_subquery()
        store.execute(sa.update(notification_jobs).where(jobs.id == first).values(status=DEAD_LETTER))
    assert not lanes_sending(settings=settings).passed
    assert not dead_letters(settings=settings).passed
    waiting = oldest_pending_age(settings=settings)
    assert not waiting.passed and waiting.metadata["oldest_pending_age_seconds"].value == 1800.0
