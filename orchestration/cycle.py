"""Run the pipeline cycle in this process, as of a given instant (the demo and the end-to-end tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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

    def __init__(self, config_file: Path, dagster_home: Path) -> None:
        from orchestration.definitions import defs

        self.config_file = Path(config_file).resolve()
        self.instance = dg.DagsterInstance.from_config(str(dagster_home))
        self.job = defs.resolve_job_def("pipeline_cycle")

    def run(self, as_of: datetime) -> CycleRun:
        started = time.perf_counter()
        result = self.job.execute_in_process(
            run_config=cycle_run_config(format_instant(as_of), str(self.config_file)),
            instance=self.instance,
            raise_on_error=True,
        )
        return CycleRun(as_of=as_of, seconds=time.perf_counter() - started, run_id=result.run_id)

    def close(self) -> None:
        self.instance.dispose()
