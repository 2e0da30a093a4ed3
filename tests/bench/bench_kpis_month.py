"""A simulated month of the small store, every KPI of every published mart against the simulator's ground
truth, and the holdout's lift estimate against the alerts' true causal lift.

The end-to-end test (tests/e2e) plays two simulated days to keep CI short; this plays the month the KPI issue
asks for, with the same comparisons (orchestration/truth_comparison.py), and prints how many figures were
compared, every one that differs, the lift with its 95 % interval beside the true lift, and how long it took.
Exit status 0 only when every figure agrees and the interval holds the true lift.

    uv run python tests/bench/bench_kpis_month.py [--days 30] [--cycle-hours 6] [--seed 11] [--holdout 0.1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from orchestration.demo import DemoPlan, DemoWorld, play
from orchestration.truth_comparison import GRAINS, comparison_table, grain_differences, lift_contains_truth


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cycle-hours", type=float, default=6.0)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--holdout", type=float, default=0.1)
    options = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        plan = DemoPlan(
            Path(folder) / "data", options.scenario, options.seed, options.days, options.cycle_hours,
            holdout_share=options.holdout,
        )  # fmt: skip
        with DemoWorld(plan) as world:
            runs, resent = play(world, progress=lambda line: print(line, file=sys.stderr, flush=True))
            summary, lift, truth = (
                world.pipeline_summary(),
                world.pipeline_lift(),
                world.ground_truth(plan.finish),
            )
            grains = {
                grain.mart: grain_differences(grain, world.data_dir / "marts", truth) for grain in GRAINS
            }
    elapsed = time.perf_counter() - started
    table, summary_agrees = comparison_table(summary, truth, lift)
    print(table)
    print()
    differences = [line for _, found in grains.values() for line in found]
    for mart, (compared, found) in grains.items():
        print(f"{mart:<22} {compared:>7} figures compared, {len(found)} differ")
    for line in differences[:50]:
        print("  ", line)
    contains = lift_contains_truth(lift, truth)
    cycles = sorted(run.seconds for run in runs[1:])
    print(
        f"\n{options.days} simulated days ({options.scenario}, seed {options.seed}), {len(runs)} cycles in "
        f"{elapsed:.0f} s (median cycle {cycles[len(cycles) // 2]:.1f} s, slowest {cycles[-1]:.1f} s); "
        f"the settle cycle sent {resent}."
    )
    ok = summary_agrees and not differences and contains is True and resent == 0
    print("Every KPI agrees and the interval holds the true lift." if ok else "NOT all agree (see above).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
