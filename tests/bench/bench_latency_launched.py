"""Launched runs against in-process runs: the alerts path on the demo store, the way the daemon launches it
(the instance's run launcher: a process per run, from a code server) and in process, alternately.

Figures per mode, medians over `--runs` runs each, at instants one simulated hour apart:
- in process: `execute_in_process` from start to end;
- launched: from the run's creation (the launcher's request) to its end, which includes the run worker's
  process start and its import of the code location; and the run alone (RUN_START to its end).
The ratio launched / in process is the figure to keep at or under 1.5.

    uv run python tests/bench/bench_latency_launched.py [--runs 3] [--scenario demo]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backinstock.clock import format_instant  # noqa: E402
from orchestration.demo import DemoPlan, DemoWorld  # noqa: E402
from orchestration.instance import prepare_dagster_home  # noqa: E402
from orchestration.jobs import run_config, run_tags  # noqa: E402
from tests.orchestration.launching import advance_to, launch, prepare_instance_home  # noqa: E402


def in_process(world: DemoWorld, instance: dg.DagsterInstance, as_of) -> float:
    from orchestration.definitions import defs

    instant = format_instant(as_of)
    started = time.perf_counter()
    result = defs.resolve_job_def("alerts").execute_in_process(
        run_config=run_config(instant, str(world.config_file)),
        instance=instance,
        tags=run_tags("bench", instant),
    )
    assert result.success
    return time.perf_counter() - started


def launched(world: DemoWorld, home: Path, as_of) -> tuple[float, float]:
    instant = format_instant(as_of)
    run = launch(home, world.config_file, "alerts", run_config(instant), run_tags("bench", instant))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.get_run_record_by_id(run.run_id)
        stats = instance.get_run_stats(run.run_id)
    created = record.create_timestamp.timestamp()
    return stats.end_time - created, stats.end_time - stats.start_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="demo")
    options = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with tempfile.TemporaryDirectory() as folder:
        plan = DemoPlan(Path(folder) / "data", options.scenario, 7, days=1)
        with DemoWorld(plan) as world:
            os.environ["BACKINSTOCK_CONFIG"] = str(world.config_file)
            in_process_home = prepare_dagster_home(Path(folder) / "in_process_home")
            launched_home = prepare_instance_home(Path(folder) / "launched_home")
            moment = plan.start + timedelta(hours=6)
            advance_to(world, moment)
            with dg.DagsterInstance.from_config(str(in_process_home)) as instance:
                in_process(world, instance, moment)  # the first run also parses dbt from scratch: not timed
                inside, whole, alone = [], [], []
                for _ in range(options.runs):
                    moment += timedelta(hours=1)
                    advance_to(world, moment)
                    inside.append(in_process(world, instance, moment))
                    moment += timedelta(hours=1)
                    advance_to(world, moment)
                    total, run_only = launched(world, launched_home, moment)
                    whole.append(total)
                    alone.append(run_only)
    median_inside, median_whole = statistics.median(inside), statistics.median(whole)
    print(f"store: {options.scenario}; alerts path, {options.runs} runs per mode, alternating")
    print(f"in process, median:                 {median_inside:6.2f} s   {[round(x, 1) for x in inside]}")
    print(f"launched, creation to end, median:  {median_whole:6.2f} s   {[round(x, 1) for x in whole]}")
    median_alone = statistics.median(alone)
    print(f"launched, run alone, median:        {median_alone:6.2f} s   {[round(x, 1) for x in alone]}")
    print(f"ratio launched / in process:        {median_whole / median_inside:6.2f}")


if __name__ == "__main__":
    main()
