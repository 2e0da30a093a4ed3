"""Run the three paths in this process, one after the other, as of a given instant (the demo and the
end-to-end tests): alerts (ingest, detect, enqueue), dispatch until nothing is due, analytics (KPI marts
refreshed after the sends, published)."""

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
from orchestration.jobs import alerts_job, analytics_job, dispatch_job, run_config, run_tags

# The dispatcher runs until nothing can be sent at the simulated instant (bounded by dispatch.run_seconds).
DISPATCH_UNTIL_IDLE = {"until_idle": True}


@dataclass(frozen=True)
class CycleRun:
    as_of: datetime
    seconds: float
    run_ids: tuple[str, ...]


class CycleRunner:
    """Runs the paths in process against a persistent instance, so `dagster dev` shows the history."""

    def __init__(
        self, config_file: Path, dagster_home: Path, log_file: Path | None = None, trigger: str = "demo"
    ) -> None:
        from orchestration.definitions import defs

        self.config_file = Path(config_file).resolve()
        self.log = log_file.open("a") if log_file else None
        self.instance = dg.DagsterInstance.from_config(str(dagster_home))
        self.trigger = trigger
        self.jobs = [
            (defs.resolve_job_def(job.name), dispatch)
            for job, dispatch in (
                (alerts_job, None),
                (dispatch_job, DISPATCH_UNTIL_IDLE),
                (analytics_job, None),
            )
        ]

    def run(self, as_of: datetime) -> CycleRun:
        """One cycle; its console output (Dagster's warnings, dbt's log, which dagster-dbt always writes to
        stdout) goes to the log file when there is one. The full record is in the instance either way."""
        started = time.perf_counter()
        instant = format_instant(as_of)
        run_ids = []
        with _output_to(self.log):
            for job, dispatch in self.jobs:
                result = job.execute_in_process(
                    run_config={
                        **run_config(instant, str(self.config_file), dispatch=dispatch),
                        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                    },
                    instance=self.instance,
                    tags=run_tags(self.trigger, instant),
                    raise_on_error=True,
                )
                run_ids.append(result.run_id)
        return CycleRun(as_of=as_of, seconds=time.perf_counter() - started, run_ids=tuple(run_ids))

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
