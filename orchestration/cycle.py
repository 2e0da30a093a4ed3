"""Run the pipeline cycle in this process, as of a given instant (the demo and the end-to-end tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import dagster as dg

from backinstock.clock import format_instant
from orchestration.jobs import cycle_run_config


@dataclass(frozen=True)
class CycleRun:
    as_of: datetime
    seconds: float
    run_id: str


class CycleRunner:
    """Runs `pipeline_cycle` in process against a persistent instance, so `dagster dev` shows the history."""

    def __init__(self, config_file: Path, dagster_home: Path, log_file: Path | None = None) -> None:
        from orchestration.definitions import defs

        self.config_file = Path(config_file).resolve()
        self.log = log_file.open("a") if log_file else None
        self.instance = dg.DagsterInstance.from_config(str(dagster_home))
        self.job = defs.resolve_job_def("pipeline_cycle")

    def run(self, as_of: datetime) -> CycleRun:
        """One cycle; its console output (Dagster's warnings, dbt's log, which dagster-dbt always writes to
        stdout) goes to the log file when there is one. The full record is in the instance either way."""
        started = time.perf_counter()
        with _output_to(self.log):
            result = self.job.execute_in_process(
                run_config={
                    **cycle_run_config(format_instant(as_of), str(self.config_file)),
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                },
                instance=self.instance,
                raise_on_error=True,
            )
        return CycleRun(as_of=as_of, seconds=time.perf_counter() - started, run_id=result.run_id)

    def close(self) -> None:
        self.instance.dispose()
        if self.log:
            self.log.close()


@contextmanager
def _output_to(log: TextIO | None) -> Iterator[None]:
    if log is None:
        yield
        return
    with redirect_stdout(log), redirect_stderr(log):
        yield
