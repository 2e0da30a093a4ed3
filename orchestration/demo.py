"""`backinstock demo`: the whole loop on embedded defaults, over simulated days, beside its ground truth.

The driver owns time. It starts the simulator (Shopify + email provider + shoppers) and the storefront as
processes on loopback, then repeatedly: writes the next instant to the clock file every product process
reads, asks the simulator to play everything up to that instant, and at each cycle boundary runs the
Dagster pipeline cycle in this process as of that instant. At the end it prints the pipeline's KPIs (from
the published marts) beside the KPIs the simulator computes from its own event log.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from backinstock.clock import FileClock, format_instant, parse_instant
from backinstock.settings import HoldoutSettings, load_settings
from orchestration.cycle import CycleRun, CycleRunner
from orchestration.instance import prepare_dagster_home
from orchestration.truth_comparison import comparison_table

DEMO_SHOP = "demo-outfitters.myshopify.com"
STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class DemoPlan:
    data_dir: Path = Path("data/demo")
    scenario: str = "demo"
    seed: int = 7
    days: int = 4
    cycle_hours: float = 6.0
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    holdout_share: float = 0.1  # of each restock's targets sent late, for the lift estimate
    # The product on the system clock (no clock file); the driver keeps the world at real time itself.
    real_clock: bool = False
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # more tables, e.g. [detection]
    shop_settings: dict[str, Any] = field(default_factory=dict)  # more keys of the shop, e.g. double_opt_in

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def cycle(self) -> timedelta:
        return timedelta(hours=self.cycle_hours)

    @property
    def finish(self) -> datetime:
        """Where the run stops: the end, or with a holdout the holdout's delay later, so the targets held
        out by the last cycle are sent and their window ends inside the run."""
        if not self.holdout_share:
            return self.end
        return self.end + timedelta(minutes=HoldoutSettings().delay_minutes)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_settings_file(
    path: Path, top: dict[str, Any], tables: dict[str, dict[str, Any]], shops: list[dict]
) -> None:
    """A small TOML writer for the demo's settings (the product reads TOML; nothing here needs more)."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for name, values in tables.items():
        lines += ["", f"[{name}]", *(f"{key} = {_toml_value(value)}" for key, value in values.items())]
    for shop in shops:
        scalars = {key: value for key, value in shop.items() if not isinstance(value, dict)}
        lines += ["", "[[shops]]", *(f"{key} = {_toml_value(value)}" for key, value in scalars.items())]
        for name, values in shop.items():
            if isinstance(values, dict):  # a table of this shop's, e.g. [shops.holdout]
                lines += [f"[shops.{name}]", *(f"{key} = {_toml_value(v)}" for key, v in values.items())]
    path.write_text("\n".join(lines) + "\n")


@dataclass
class DemoWorld:
    """The simulator, the storefront and the pipeline, wired together on loopback for one plan."""

    plan: DemoPlan
    data_dir: Path = field(init=False)
    processes: list[subprocess.Popen] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.plan.data_dir.resolve()
        self.config_file = self.data_dir / "backinstock.toml"
        self.clock = FileClock(self.data_dir / "clock")
        self.simulator_port = free_port()
        self.storefront_port = free_port()
        self.simulator_url = f"http://127.0.0.1:{self.simulator_port}"
        self.storefront_url = f"http://127.0.0.1:{self.storefront_port}"
        self.http = httpx.Client(timeout=120.0)
        self.next_event_at: datetime | None = None

    def __enter__(self) -> DemoWorld:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        (self.data_dir / "logs").mkdir(parents=True)
        token, webhook_secret, sendgrid_key = (secrets.token_hex(16) for _ in range(3))
        write_settings_file(
            self.config_file,
            top={
                "data_dir": str(self.data_dir),
                **({} if self.plan.real_clock else {"clock_file": str(self.clock.path)}),
                "secret_key": secrets.token_urlsafe(32),
                "storefront_url": self.storefront_url,
                "storefront_host": "127.0.0.1",
                "storefront_port": self.storefront_port,
            },
            tables={
                # The simulator stands in front of the storefront like a CDN or Shopify's App Proxy:
                # shoppers' own addresses come in X-Forwarded-For from loopback.
                "storefront": {"trusted_proxies": ["127.0.0.1"]},
                "email": {
                    "api_url": self.simulator_url,
                    "api_key": sendgrid_key,
                    "from_email": "alerts@demo-outfitters.example",
                    "from_name": "Demo Outfitters",
                },
                **self.plan.settings,
            },
            shops=[
                {
                    "domain": DEMO_SHOP,
                    "admin_api_url": self.simulator_url,
                    "access_token": token,
                    "webhook_secret": webhook_secret,
                    "holdout": {"share": self.plan.holdout_share},
                    **self.plan.shop_settings,
                }
            ],
        )
        if not self.plan.real_clock:
            self.clock.set(self.plan.start)
        try:
            self._start(
                "simulator",
                [
                    sys.executable, "-m", "simulator",
                    "--port", str(self.simulator_port),
                    "--seed", str(self.plan.seed),
                    "--start", format_instant(self.plan.start),
                    "--days", str(self.plan.days),
                    "--scenario", self.plan.scenario,
                    "--storefront-url", self.storefront_url,
                    "--shop-domain", DEMO_SHOP,
                    "--access-token", token,
                    "--webhook-secret", webhook_secret,
                    "--sendgrid-key", sendgrid_key,
                ],
                f"{self.simulator_url}/_sim/clock",
            )  # fmt: skip
            self._start("storefront", [sys.executable, "-m", "storefront"], f"{self.storefront_url}/healthz")
            self.runner = CycleRunner(
                self.config_file,
                prepare_dagster_home(self.data_dir / "dagster_home"),
                log_file=self.data_dir / "logs" / "pipeline.log",
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if hasattr(self, "runner"):
            self.runner.close()
        self.http.close()

    def _start(self, name: str, command: list[str], ready_url: str) -> None:
        log = (self.data_dir / "logs" / f"{name}.log").open("w")
        environment = {**os.environ, "BACKINSTOCK_CONFIG": str(self.config_file), "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
        self.processes.append(process)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log.name}")
            try:
                if self.http.get(ready_url, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {ready_url} within {STARTUP_TIMEOUT_SECONDS:.0f} s")

    def advance(self, to: datetime) -> None:
        """Move every product process's clock, then let the outside world play up to that instant."""
        self.clock.set(to)
        answer = self.http.post(f"{self.simulator_url}/_sim/advance", json={"to": format_instant(to)})
        answer.raise_for_status()
        if answer.json().get("played_before_to"):
            raise RuntimeError(
                f"the driver stepped past {answer.json()['played_before_to']} simulator events before "
                f"{format_instant(to)}: they played while the product's clock was already later"
            )
        self._note_next_event(answer.json())

    def cycle(self, as_of: datetime) -> CycleRun:
        """Run the pipeline as of `as_of`. Its sends make shoppers react later, so the simulator's next
        event is asked for again: stepping past it would play it at the wrong instant."""
        self.clock.set(as_of)
        run = self.runner.run(as_of)
        answer = self.http.get(f"{self.simulator_url}/_sim/clock")
        answer.raise_for_status()
        self._note_next_event(answer.json())
        return run

    def _note_next_event(self, clock: dict[str, Any]) -> None:
        upcoming = clock.get("next_event_at")
        self.next_event_at = parse_instant(upcoming) if upcoming else None

    def pipeline_summary(self) -> dict[str, Any]:
        """The pipeline's all-time KPIs, read from the published Parquet mart (never the warehouse)."""
        rows = pd.read_parquet(self.data_dir / "marts" / "kpi_summary.parquet").to_dict("records")
        return next((row for row in rows if row["shop"] == DEMO_SHOP), {})

    def pipeline_lift(self) -> dict[str, Any]:
        """The holdout's lift estimate for the demo shop, from the published mart."""
        rows = pd.read_parquet(self.data_dir / "marts" / "notification_lift.parquet").to_dict("records")
        return next((row for row in rows if row["shop"] == DEMO_SHOP), {})

    def ground_truth(self, as_of: datetime) -> dict[str, Any]:
        answer = self.http.get(
            f"{self.simulator_url}/_sim/ground-truth", params={"as_of": format_instant(as_of)}
        )
        answer.raise_for_status()
        return answer.json()


def play(world: DemoWorld, progress: Callable[[str], None]) -> tuple[list[CycleRun], int]:
    """Drive simulated time from start to the plan's finish, then re-run the last cycle (settle).

    Returns every cycle run (settle last) and how many messages the settle run sent (it must be none).
    """
    plan = world.plan
    total = int(plan.days * 24 / plan.cycle_hours) + 2 + (plan.finish > plan.end)
    runs: list[CycleRun] = []

    def run_cycle(as_of: datetime, label: str = "cycle") -> None:
        runs.append(world.cycle(as_of))
        kpis = world.pipeline_summary()
        progress(
            f"{label} {len(runs):>2}/{total} · {as_of:%a %d %b %H:%M} UTC · {runs[-1].seconds:5.1f} s · "
            f"restocks {kpis.get('restocks', 0)} · jobs {kpis.get('notification_jobs', 0)} · "
            f"sent {kpis.get('notifications_sent', 0)} · attributed orders {kpis.get('attributed_orders', 0)}"
        )

    world.advance(plan.start)
    run_cycle(plan.start)
    next_cycle = plan.start + plan.cycle
    while True:
        upcoming = [moment for moment in (world.next_event_at, next_cycle) if moment is not None]
        moment = min(upcoming)
        if moment > plan.finish:
            break
        world.advance(moment)
        if moment == next_cycle:
            run_cycle(moment)
            next_cycle += plan.cycle
    world.advance(plan.finish)
    if runs[-1].as_of != plan.finish:
        run_cycle(plan.finish)
    # The same instant again: the last cycle's sends land in the KPIs, and nothing new goes out.
    sent_before = world.ground_truth(plan.finish)["totals"]["notifications_sent"]
    run_cycle(plan.finish, label="settle")
    resent = world.ground_truth(plan.finish)["totals"]["notifications_sent"] - sent_before
    return runs, resent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backinstock demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DemoPlan.data_dir)
    parser.add_argument("--scenario", default=DemoPlan.scenario, choices=["demo", "small"])
    parser.add_argument("--seed", type=int, default=DemoPlan.seed)
    parser.add_argument("--days", type=int, default=DemoPlan.days)
    parser.add_argument("--cycle-hours", type=float, default=DemoPlan.cycle_hours)
    options = parser.parse_args(argv)
    plan = DemoPlan(options.data_dir, options.scenario, options.seed, options.days, options.cycle_hours)

    def progress(line: str) -> None:
        print(line, flush=True)

    progress(f"Back in Stock demo: {plan.days} simulated days of {DEMO_SHOP}, a pipeline cycle every "
             f"{plan.cycle_hours:g} h (seed {plan.seed}).")  # fmt: skip
    started = time.perf_counter()
    with DemoWorld(plan) as world:
        runs, resent = play(world, progress)
        pipeline, lift, truth = (
            world.pipeline_summary(),
            world.pipeline_lift(),
            world.ground_truth(plan.finish),
        )
    table, all_agree = comparison_table(pipeline, truth, lift)
    cycle_seconds = sorted(run.seconds for run in runs[1:])
    median = cycle_seconds[len(cycle_seconds) // 2] if cycle_seconds else 0.0
    data = plan.data_dir.resolve()
    print()
    print(table)
    print()
    print(f"{len(runs)} cycles in {time.perf_counter() - started:.0f} s (median cycle {median:.1f} s).")
    print(f"The settle cycle (same instant, nothing new) sent {resent} messages.")
    print(
        "Pipeline and ground truth agree on every KPI."
        if all_agree
        else "Some KPIs differ from ground truth."
    )
    print()
    print(f"Warehouse (DuckDB):      {data / 'warehouse.duckdb'}")
    print(f"Operational store:       {data / 'backinstock.db'}")
    print(f"Published marts:         {data / 'marts'}")
    print(f"Logs:                    {data / 'logs'}")
    print("Dagster UI (run history):")
    print(f"  DAGSTER_HOME={data / 'dagster_home'} BACKINSTOCK_CONFIG={data / 'backinstock.toml'} \\")
    print("  .venv/bin/dagster dev -w workspace.yaml")
    print("Dashboards (KPIs, waiting demand, queue, trace, audit) on the demo's store and published marts:")
    print(f"  export BACKINSTOCK_CONFIG={data / 'backinstock.toml'}")
    print("  .venv/bin/backinstock user add you --all-permissions   # asks for a password")
    console = load_settings(data / "backinstock.toml").dashboards
    print(f"  .venv/bin/python -m dashboards          # then open http://{console.host}:{console.port}/kpis")
    return 0 if all_agree and resent == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
