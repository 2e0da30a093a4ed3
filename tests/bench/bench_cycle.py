"""How long one pipeline cycle takes on the demo store, against a baseline measured in the same run.

Figures: the median and slowest cycle (Dagster run: ingest, copy, dbt build, enqueue, dispatch, publish)
over simulated days of the demo store. Baseline: a bare `dbt build` with the same arguments on the same
warehouse afterwards, the floor no cycle can go below. The ratio says what orchestration and I/O add.

    uv run python tests/bench/bench_cycle.py [--days 2] [--cycle-hours 6] [--scenario demo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backinstock.settings import load_settings
from orchestration.defs.dbt.assets import dbt_as_of, dbt_vars
from orchestration.defs.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from orchestration.demo import DemoPlan, DemoWorld, play


def bare_dbt_build(world: DemoWorld) -> float:
    settings = load_settings(world.config_file)
    environment = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "BACKINSTOCK_WAREHOUSE_PATH": str(settings.warehouse),
        "BACKINSTOCK_AS_OF": dbt_as_of(world.plan.end),
    }
    command = [
        DBT_EXECUTABLE, "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
        str(DBT_PROJECT_DIR), "--target-path", str(settings.data_dir / "dbt_target"),
        "--vars", json.dumps(dbt_vars(settings)), "--exclude-resource-type", "unit_test",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--cycle-hours", type=float, default=6.0)
    parser.add_argument("--scenario", default="demo")
    parser.add_argument("--baseline-runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        plan = DemoPlan(Path(folder) / "data", options.scenario, 7, options.days, options.cycle_hours)
        with DemoWorld(plan) as world:
            runs, _ = play(world, progress=lambda line: print(line, file=sys.stderr))
            baseline = [bare_dbt_build(world) for _ in range(options.baseline_runs)]
    cycles = [run.seconds for run in runs[1:]]  # the first cycle also parses the dbt project from scratch
    median_cycle, median_dbt = statistics.median(cycles), statistics.median(baseline)
    print(
        f"store: {options.scenario}, {options.days} simulated days, a cycle every {options.cycle_hours:g} h"
    )
    print(f"first cycle (full dbt parse):  {runs[0].seconds:6.2f} s")
    print(
        f"cycle, median of {len(cycles):>2}:          {median_cycle:6.2f} s   (slowest {max(cycles):.2f} s)"
    )
    print(f"baseline: bare dbt build, median of {len(baseline)}: {median_dbt:6.2f} s")
    print(f"ratio cycle / bare dbt build:  {median_cycle / median_dbt:6.2f}")


if __name__ == "__main__":
    main()
