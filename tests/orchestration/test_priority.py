"""Warehouse runs yield the CPU: a batch run's thread, the DuckDB threads and the processes it starts run at
`settings.batch_nice`; a run that is not batch work (dispatch) keeps the priority it had."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from orchestration.jobs import alerts_job, analytics_job, dispatch_job, quality_job
from orchestration.priority import BATCH, PRIORITY_TAG, nice_of_this_thread
from orchestration.resources import BackInStockSettings
from orchestration.warehouse import connect


def _nice_of_task(task: Path) -> int:
    return int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])


def _run_in_a_thread(tags: dict[str, str], config_file: Path, warehouse: Path) -> dict[str, object]:
    """A job with the product's settings resource, tagged `tags`, run in process in a new thread; what its
    step saw: its own nice value, a child process's, and those of the threads DuckDB started."""
    seen: dict[str, object] = {}

    @dg.op
    def step(settings: BackInStockSettings) -> None:
        seen["thread"] = nice_of_this_thread()
        seen["child"] = int(
            subprocess.run(
                [sys.executable, "-c", "import os; print(os.nice(0))"], capture_output=True, check=True
            ).stdout
        )
        before = set(Path("/proc/self/task").iterdir())
        with connect(warehouse) as duckdb:
            duckdb.execute("SET threads = 3")
            duckdb.execute("SELECT sum(range) FROM range(2000000)").fetchall()
            started = set(Path("/proc/self/task").iterdir()) - before
            seen["duckdb"] = sorted({_nice_of_task(task) for task in started})

    @dg.job(tags=tags)
    def job() -> None:
        step()

    def execute() -> None:
        job.execute_in_process(
            resources={"settings": BackInStockSettings(config_file=str(config_file))}, raise_on_error=True
        )

    thread = threading.Thread(target=execute)
    thread.start()
    thread.join()
    return seen


def test_the_warehouse_paths_are_batch_work_and_dispatch_is_not() -> None:
    for job in (alerts_job, analytics_job, quality_job):
        assert job.tags[PRIORITY_TAG] == BATCH
    assert PRIORITY_TAG not in dispatch_job.tags


def test_a_batch_run_and_what_it_starts_yield_the_cpu(tmp_path: Path) -> None:
    start = nice_of_this_thread()
    if start >= 19:
        pytest.skip("this process already runs at the lowest priority: nothing can be lowered further")
    config = tmp_path / "settings.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nbatch_nice = 19\n')

    batch = _run_in_a_thread({PRIORITY_TAG: BATCH}, config, tmp_path / "batch.duckdb")
    assert batch["thread"] == batch["child"] == 19
    assert batch["duckdb"] == [19]

    other = _run_in_a_thread({}, config, tmp_path / "other.duckdb")
    assert other["thread"] == other["child"] == start
    assert nice_of_this_thread() == start  # the runs' own threads took the priority, not this one
