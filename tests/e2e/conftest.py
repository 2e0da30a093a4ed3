"""The end-to-end world, shared by the e2e modules (one simulated run for all of them, session-scoped).

Modules run in name order: `test_privacy_redact.py` redacts a customer in it, after the others have read it.
"""

from __future__ import annotations

import pytest

from orchestration.demo import DemoPlan, DemoWorld, play


@pytest.fixture(scope="session")
def finished_world(tmp_path_factory):
    """Two simulated days of the small store, a cycle every 6 hours, a quarter of each restock's targets held
    out; the world stays up for inspection. (A simulated month: tests/bench/bench_kpis_month.py.)"""
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    plan = DemoPlan(data_dir=data_dir, scenario="small", seed=11, days=2, cycle_hours=6, holdout_share=0.25)
    with DemoWorld(plan) as world:
        runs, resent = play(world, progress=lambda line: None)
        world.simulator_log = world.http.get(f"{world.simulator_url}/_sim/log").json()["events"]
        yield world, runs, resent, world.pipeline_summary(), world.ground_truth(plan.finish)
