"""The whole loop, end to end: simulator → storefront → Dagster cycles → dispatch → KPI marts, compared
with the KPIs the simulator computes from its own event log."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from backinstock.store import tables
from backinstock.store.engine import create_store_engine
from orchestration.truth_comparison import (
    GRAINS,
    ROWS,
    agrees,
    comparison_table,
    grain_differences,
    lift_contains_truth,
)

pytestmark = pytest.mark.e2e


def test_every_kpi_agrees_with_ground_truth(finished_world):
    _world, _runs, _resent, pipeline, truth = finished_world
    table, all_agree = comparison_table(pipeline, truth)
    assert all_agree, "\n" + table
    totals = truth["totals"]
    for kpi in ("restocks", "notifications_sent", "attributed_orders"):
        assert totals[kpi] > 0, f"the small store should exercise {kpi}\n{table}"


def test_daily_kpis_agree_with_ground_truth(finished_world):
    world, _runs, _resent, _pipeline, truth = finished_world
    rows = pd.read_parquet(world.data_dir / "marts" / "kpi_daily.parquet").to_dict("records")
    daily = {str(row["kpi_date"])[:10]: row for row in rows}
    for day in truth["daily"]:
        row = daily.get(day["date"], {})
        for kpi in ROWS:
            pipeline, expected = row.get(kpi.key), day.get(kpi.key)
            assert agrees(kpi.kind, pipeline, expected), (day["date"], kpi.key, pipeline, expected)


@pytest.mark.parametrize("grain", GRAINS, ids=[grain.mart for grain in GRAINS])
def test_every_kpi_of_every_published_mart_agrees_with_ground_truth(finished_world, grain):
    """Counts, rates and money per day, variant, product, channel and restock event, as published."""
    world, _runs, _resent, _pipeline, truth = finished_world
    compared, differences = grain_differences(grain, world.data_dir / "marts", truth)
    assert compared > 0
    assert differences == []


def test_the_holdouts_interval_contains_the_true_causal_lift(finished_world):
    """Held-out targets waited the delay; the lift estimate's 95 % interval holds the lift the simulator
    knows the alerts caused (its own record of why each order was placed)."""
    world, _runs, _resent, _pipeline, truth = finished_world
    lift = world.pipeline_lift()
    assert lift["held_out_targets"] > 0 and lift["treated_targets"] > lift["held_out_targets"]
    assert truth["lift"]["alerted_targets"] > 0 and truth["lift"]["true_causal_lift"] is not None
    assert lift_contains_truth(lift, truth), (lift, truth["lift"])


def test_held_out_jobs_went_out_only_after_the_holdouts_delay(finished_world):
    """The enqueue step made each held-out target's job due 60 minutes late; treated ones went at once."""
    world, *_ = finished_world
    with duckdb.connect(str(world.data_dir / "warehouse.duckdb"), read_only=True) as warehouse:
        held_out = dict(
            warehouse.execute(
                "SELECT subscription_id, is_held_out FROM notification_holdouts WHERE holdout_share = 0.25"
            ).fetchall()
        )
    engine = create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}")
    attempts = tables.notification_attempts
    with engine.connect() as connection:
        jobs = connection.execute(sa.select(tables.notification_jobs)).mappings().all()
        first_attempts = dict(
            connection.execute(
                sa.select(attempts.c.job_id, sa.func.min(attempts.c.started_at)).group_by(attempts.c.job_id)
            ).all()
        )
    waits = {
        job["id"]: (
            held_out[job["subscription_id"]],
            (first_attempts[job["id"]] - job["created_at"]).total_seconds(),
        )
        for job in jobs
        if job["id"] in first_attempts
    }
    assert {held for held, _ in waits.values()} == {True, False}
    assert all(wait >= 3600 for held, wait in waits.values() if held)
    assert [wait for held, wait in waits.values() if not held].count(0) > 0


def test_rerunning_the_cycle_with_nothing_new_sends_nothing(finished_world):
    _world, runs, resent, _pipeline, _truth = finished_world
    assert runs[-1].as_of == runs[-2].as_of
    assert resent == 0


def test_one_job_per_subscription_and_one_accepted_attempt_per_sent_job(finished_world):
    world, *_ = finished_world
    engine = create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}")
    with engine.connect() as connection:
        jobs = connection.execute(sa.select(tables.notification_jobs)).mappings().all()
        attempts = connection.execute(sa.select(tables.notification_attempts)).mappings().all()
    assert len({job["subscription_id"] for job in jobs}) == len(jobs)
    accepted = {}
    for attempt in attempts:
        if attempt["outcome"] == "accepted":
            accepted[attempt["job_id"]] = accepted.get(attempt["job_id"], 0) + 1
    sent = {job["id"] for job in jobs if job["status"] == "sent"}
    assert set(accepted) == sent
    assert set(accepted.values()) == {1}


def test_every_touch_is_recorded_at_the_instant_the_shopper_made_it(finished_world):
    """Simulated time reaches every process: the storefront stamps each open and click with the instant the
    simulator played it (a driver that skipped ahead would stamp them late and skew attribution)."""
    world, *_ = finished_world
    played = sorted(
        (int(event["job_id"]), event["kind"], event["at"][:19])
        for event in world.simulator_log
        if event["kind"] in ("open", "click") and event["status"] < 400
    )
    engine = create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}")
    with engine.connect() as connection:
        events = connection.execute(
            sa.select(tables.tracking_events).where(
                tables.tracking_events.c.event_type.in_(["open", "click"])
            )
        ).mappings()
        recorded = sorted(
            (event["job_id"], event["event_type"], event["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S"))
            for event in events
        )
    assert played and recorded == played


def test_restocks_match_the_simulators_own_list(finished_world):
    world, _runs, _resent, _pipeline, truth = finished_world
    detected = pd.read_parquet(world.data_dir / "marts" / "restock_events.parquet").itertuples()
    pipeline = sorted((row.variant_id, row.restocked_at.strftime("%Y-%m-%dT%H:%M:%S")) for row in detected)
    expected = sorted((row["variant_id"], row["restocked_at"][:19]) for row in truth["restocks"])
    assert pipeline == expected


def test_no_web_process_opens_the_warehouse(finished_world):
    """The storefront ran the whole time beside Dagster: it never loaded DuckDB nor held the file open."""
    world, *_ = finished_world
    storefront = world.processes[1]
    proc = Path(f"/proc/{storefront.pid}")
    if not proc.exists():
        pytest.skip("no /proc on this system")
    mapped = (proc / "maps").read_text()
    assert "duckdb" not in mapped
    open_files = [str(link.readlink()) for link in (proc / "fd").iterdir() if link.is_symlink()]
    assert not any("warehouse.duckdb" in path for path in open_files)


def test_double_opt_in_is_exercised_and_only_confirmed_signups_count(finished_world):
    """Shoppers found the confirmation in the email the provider received and clicked it (some never did,
    some too late): the product made exactly the confirmed ones subscriptions, at the click's instant."""
    world, _runs, _resent, pipeline, truth = finished_world
    requested = [e for e in world.simulator_log if e["kind"] == "signup" and e["status"] == 202]
    clicks = [e for e in world.simulator_log if e["kind"] == "confirm"]
    assert clicks and {click["status"] for click in clicks} <= {200, 410}
    assert 0 < truth["totals"]["signups"] < len(requested)
    engine = create_store_engine(f"sqlite:///{world.data_dir / 'backinstock.db'}")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(tables.subscriptions)).mappings().all()
    confirmed = sorted(
        (row["contact"], row["variant_id"], row["confirmed_at"].strftime("%Y-%m-%dT%H:%M:%S"))
        for row in rows
        if row["confirmed_at"] is not None
    )
    clicked = sorted((c["email"], c["variant_id"], c["at"][:19]) for c in clicks if c["status"] == 200)
    assert confirmed == clicked
    assert any(row["status"] == "pending" for row in rows)
    assert int(pipeline["signups"]) == truth["totals"]["signups"]
