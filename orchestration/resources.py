"""Dagster resources: the product's settings, and the instant a run decides as of."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import PrivateAttr

from backinstock.clock import Clock, format_instant, parse_instant
from backinstock.settings import Settings, load_settings
from orchestration.instance import ensure_warehouse_pool
from orchestration.priority import BATCH, PRIORITY_TAG, lower_this_thread


class BackInStockSettings(dg.ConfigurableResource):
    """The product's one settings object; `config_file` names the TOML file (else the usual lookup)."""

    config_file: str = ""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Every run needs the settings, so every run puts the warehouse pool's limit on its instance
        before its first step claims a slot, and a batch run (a warehouse path) lowers its CPU priority
        before its first step starts DuckDB or dbt (orchestration/priority.py)."""
        if context.instance is not None:
            ensure_warehouse_pool(context.instance)
        run = context.dagster_run
        if run is not None and run.tags.get(PRIORITY_TAG) == BATCH:
            lower_this_thread(self.load().batch_nice)

    def load(self) -> Settings:
        return load_settings(self.config_file or None)


WAIT_POLL_SECONDS = 0.05
WAIT_SLACK = timedelta(seconds=60)


def run_instant(value: datetime) -> datetime:
    """The instant a run decides as of: whole seconds, floored. The models decide as of whole seconds
    (`dbt_as_of`) and the ingests stamp what they read with the run's instant, so a finer instant would
    hide from a run's own models what the run just ingested (on the system clock every instant has
    microseconds); floored, the run never decides as of a moment that has not happened."""
    return value.astimezone(UTC).replace(microsecond=0)


def wait_until(clock: Clock, instant: datetime, slack: timedelta = WAIT_SLACK) -> None:
    """Sleep until `clock` reaches `instant`; an error when it has not within the wait it was due (real
    seconds) plus `slack` (a simulated clock nobody moves)."""
    remaining = (instant - clock.now()).total_seconds()
    deadline = time.monotonic() + remaining + slack.total_seconds()
    while remaining > 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the clock did not reach {format_instant(instant)} in time")
        time.sleep(min(remaining, WAIT_POLL_SECONDS))
        remaining = (instant - clock.now()).total_seconds()


class CycleClock(dg.ConfigurableResource):
    """The run's `as_of`: every asset of one run decides as of the same instant.

    Given explicitly (schedules pass their tick, the demo its simulated time), else read from the
    settings' clock file when one is configured, else the run's creation time, which is the same in
    every step process. A run launched ahead of its `as_of` (`wait_for_as_of`: a sensor that saw a
    restock about to become confirmable) waits for that instant on the settings' clock before its first
    step: its process starts and imports meanwhile, and it never decides as of a moment not yet passed.
    """

    as_of: str = ""
    wait_for_as_of: bool = False
    settings: BackInStockSettings
    _resolved: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._resolved = run_instant(self._given(context))
        if self.wait_for_as_of:
            wait_until(self.settings.load().clock(), self._resolved)

    def _given(self, context: dg.InitResourceContext) -> datetime:
        if self.as_of:
            return parse_instant(self.as_of)
        settings = self.settings.load()
        if settings.clock_file:
            return settings.clock().now()
        record = context.instance.get_run_record_by_id(context.run_id) if context.run_id else None
        return record.create_timestamp if record else datetime.now(UTC)

    def now(self) -> datetime:
        if self._resolved is None:
            raise RuntimeError("CycleClock used outside a run")
        return self._resolved
