"""Restock to first provider acceptance on the production path: the Dagster daemon, real clock, demo store.

The product runs as it does in production: `dagster-daemon run -w workspace.yaml` (its code server, the
sensors and schedules on their defaults, runs launched by the instance's run launcher, each in a process of
its own), the storefront taking webhooks and signups, all on the system clock; the simulator's world is kept
at real time by this driver. For each path the benchmark sells out `--restocks` variants of the demo store,
signs up two shoppers to each (the shop without double opt-in, so they wait at once), lets the sell-outs
last the debounce, then restocks the variants `--spacing` seconds apart:

- webhook path: each restock's `inventory_levels/update` webhook is delivered at once (webhook -> inbox ->
  sensor `webhook_inbox` -> `alerts` -> `dispatch`);
- poll path: the restock's webhook is never delivered, so only the `reconciliation_poll` schedule (every
  5 minutes) can find it.

Latency of one restock: from when it can be confirmed (the restock's instant + the debounce) to the
simulated provider's acceptance of the first message to one of its shoppers, both read from the simulator
(the restock's instant as the world made it, the acceptance from the provider's own log,
`GET /_sim/providers/log`). The world is stepped to real time every 0.2 s, so both instants are at most that
late. The debounce is `--debounce-minutes` (1, against the product's default of 5; the cooldown is 0 so a
variant can be restocked in both phases). The load average is printed beside the figures.

    uv run python tests/bench/bench_restock_latency.py [--restocks 20] [--spacing 30] [--paths webhook,poll]
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backinstock.clock import format_instant, parse_instant  # noqa: E402
from orchestration.demo import DEMO_SHOP, DemoPlan, DemoWorld  # noqa: E402
from orchestration.instance import prepare_dagster_home  # noqa: E402
from orchestration.jobs import AS_OF_TAG, TRIGGER_TAG, run_config  # noqa: E402
from orchestration.resources import run_instant  # noqa: E402
from orchestration.runs import run_in_progress  # noqa: E402

DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
PACE_SECONDS = 0.2
SHOPPERS_PER_RESTOCK = 2
RESTOCK_UNITS = 5


@dataclass
class Restock:
    path: str
    variant_id: str
    contacts: tuple[str, ...]
    at: datetime | None = None
    accepted_at: datetime | None = None


class Pacer(threading.Thread):
    """Keeps the simulated world at real time (its own HTTP client: the driver's is not shared)."""

    def __init__(self, simulator_url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{simulator_url}/_sim/advance"
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30.0) as http:
            while not self.stopping.is_set():
                http.post(self.url, json={"to": format_instant(datetime.now(UTC))}).raise_for_status()
                self.stopping.wait(PACE_SECONDS)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def open_the_store(world: DemoWorld, home: Path) -> None:
    """The first alerts run, in process and before the daemon: the catalog reaches the operational store
    (the storefront takes signups only for known variants) and dbt's manifest is built. On a thread of its
    own: a warehouse run lowers its thread's CPU priority (`batch_nice`), which the daemon started from the
    main thread afterwards would inherit, every run it launches with it."""
    from orchestration.definitions import defs

    def first_run() -> None:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            as_of = format_instant(datetime.now(UTC))
            result = defs.resolve_job_def("alerts").execute_in_process(
                run_config=run_config(as_of, str(world.config_file)), instance=instance
            )
        assert result.success

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(first_run).result()


def restockable_variants(world: DemoWorld) -> list[str]:
    """Tracked variants that stop selling at zero (the simulator's catalog, as it logged it)."""
    answer = world.http.get(f"{world.simulator_url}/_sim/log", params={"kind": "variant"})
    answer.raise_for_status()
    return [
        event["variant_id"]
        for event in answer.json()["events"]
        if event["tracked"] and event["inventory_policy"] == "DENY"
    ]


def set_stock(world: DemoWorld, variant_id: str, units: int, webhooks: bool = True) -> datetime:
    answer = world.http.post(
        f"{world.simulator_url}/_sim/stock",
        json={"variant_id": variant_id, "available": units, "webhooks": webhooks},
    )
    answer.raise_for_status()
    return parse_instant(answer.json()["at"])


def sign_up(world: DemoWorld, contact: str, variant_id: str, number: int) -> None:
    answer = world.http.post(
        f"{world.storefront_url}/api/subscriptions",
        json={"shop": DEMO_SHOP, "variant_id": variant_id, "email": contact, "client_id": f"bench-{number}"},
        headers={"X-Forwarded-For": f"10.77.{number // 250}.{number % 250 + 1}"},
    )
    assert answer.status_code == 202, answer.text


def wait_until_idle(home: Path, quiet_seconds: float = 10.0, timeout: float = 900.0) -> None:
    """Until no alerts or dispatch run has been queued or running for `quiet_seconds` (the phase's setup
    runs are over), so the first restock does not wait behind them."""
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            busy = run_in_progress(instance, "alerts")
        if busy:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return
        time.sleep(1.0)
    raise TimeoutError("the daemon's runs did not settle")


def accepted(world: DemoWorld) -> dict[str, datetime]:
    """The first acceptance per recipient, from the provider's own log."""
    log = world.http.get(f"{world.simulator_url}/_sim/providers/log").json()
    first: dict[str, datetime] = {}
    for account in log.values():
        for delivery in account["accepted"]:
            at = parse_instant(delivery["at"])
            recipient = delivery["recipient"].lower()
            if recipient not in first or at < first[recipient]:
                first[recipient] = at
    return first


def play_phase(
    world: DemoWorld, home: Path, path: str, variants: list[str], options: argparse.Namespace
) -> list[Restock]:
    debounce = timedelta(minutes=options.debounce_minutes)
    restocks = [
        Restock(
            path,
            variant,
            tuple(f"bench-{path}-{n}-{k}@example.com" for k in range(SHOPPERS_PER_RESTOCK)),
        )
        for n, variant in enumerate(variants)
    ]
    sold_out = max(set_stock(world, restock.variant_id, 0) for restock in restocks)
    for n, restock in enumerate(restocks):
        for k, contact in enumerate(restock.contacts):
            sign_up(world, contact, restock.variant_id, n * SHOPPERS_PER_RESTOCK + k + (path == "poll") * 500)
    # The sell-out must last the debounce to count; the runs it starts are over before the first restock.
    time.sleep(max(0.0, (sold_out + debounce - datetime.now(UTC)).total_seconds()) + 5.0)
    wait_until_idle(home)
    print(f"{path}: {len(restocks)} restocks, {options.spacing:g} s apart; load {load_average()}", flush=True)
    for restock in restocks:
        restock.at = set_stock(world, restock.variant_id, RESTOCK_UNITS, webhooks=path == "webhook")
        time.sleep(options.spacing)
    deadline = time.monotonic() + options.timeout
    while time.monotonic() < deadline:
        first = accepted(world)
        for restock in restocks:
            times = [first[contact] for contact in restock.contacts if contact in first]
            restock.accepted_at = min(times) if times else None
        if all(restock.accepted_at for restock in restocks):
            break
        time.sleep(2.0)
    return restocks


def latency(restock: Restock, debounce: timedelta) -> float | None:
    if restock.at is None or restock.accepted_at is None:
        return None
    return (restock.accepted_at - (restock.at + debounce)).total_seconds()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def stages(home: Path, restocks: list[Restock], debounce: timedelta) -> str:
    """Where one path's time goes, medians over its restocks: from the confirmable instant to the creation
    of the first alerts run deciding as of it or later (negative: launched ahead), creation to start
    (queue, process, import), the wait of a run launched ahead for its `as_of`, the run after that, and its
    end to the provider's acceptance (the run's own sends, else a dispatcher's)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = sorted(
            (parse_instant(record.dagster_run.tags[AS_OF_TAG]), record)
            for record in instance.get_run_records(dg.RunsFilter(job_name="alerts"), limit=1000)
            if AS_OF_TAG in record.dagster_run.tags and record.start_time and record.end_time
        )
    parts: dict[str, list[float]] = {"to run": [], "to start": [], "wait": [], "run": [], "to send": []}
    for restock in restocks:
        if restock.at is None or restock.accepted_at is None:
            continue
        confirmable = run_instant(restock.at + debounce)
        as_of, record = next(
            ((as_of, record) for as_of, record in runs if as_of >= confirmable), (None, None)
        )
        if record is None:
            continue
        created = record.create_timestamp.timestamp()
        ready = max(record.start_time, as_of.timestamp())
        parts["to run"].append(created - confirmable.timestamp())
        parts["to start"].append(record.start_time - created)
        parts["wait"].append(ready - record.start_time)
        parts["run"].append(record.end_time - ready)
        parts["to send"].append(restock.accepted_at.timestamp() - record.end_time)
    return "  ".join(f"{name} {statistics.median(values):5.1f} s" for name, values in parts.items() if values)


def alerts_steps(home: Path, since: datetime) -> str:
    """Inside the alerts runs of the benchmark: the median seconds of each step, from Dagster's own events."""
    seconds: dict[str, list[float]] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name="alerts", created_after=since), limit=1000)
        for record in records:
            for event in instance.get_records_for_run(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
            ).records:
                dagster_event = event.event_log_entry.dagster_event
                seconds.setdefault(dagster_event.step_key, []).append(
                    dagster_event.event_specific_data.duration_ms / 1000
                )
    return "  ".join(f"{step} {statistics.median(values):.1f} s" for step, values in sorted(seconds.items()))


def run_counts(home: Path, since: datetime) -> str:
    """How many runs of each job ran during the benchmark, by what started them."""
    counts: dict[str, int] = {}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records(dg.RunsFilter(created_after=since), limit=2000):
            key = f"{record.dagster_run.job_name}/{record.dagster_run.tags.get(TRIGGER_TAG, '?')}"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} {count}" for key, count in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restocks", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=30.0, help="seconds between restocks")
    parser.add_argument("--debounce-minutes", type=int, default=1)
    parser.add_argument("--paths", default="webhook,poll")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the last send")
    parser.add_argument("--scenario", default="demo")
    options = parser.parse_args()
    os.environ["DO_NOT_TRACK"] = "1"
    debounce = timedelta(minutes=options.debounce_minutes)
    # The run workers may still be writing their logs when the daemon has stopped: never fail on cleanup.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as folder:
        start = datetime.now(UTC).replace(microsecond=0)
        plan = DemoPlan(
            Path(folder) / "data",
            options.scenario,
            7,
            days=1,
            start=start,
            holdout_share=0.0,
            real_clock=True,
            settings={"detection": {"debounce_minutes": options.debounce_minutes, "cooldown_hours": 0}},
            shop_settings={"double_opt_in": False},
        )
        home = prepare_dagster_home(Path(folder) / "dagster_home")
        with DemoWorld(plan) as world:
            pacer = Pacer(world.simulator_url)
            pacer.start()
            daemon = None
            try:
                open_the_store(world, home)
                variants = restockable_variants(world)[: options.restocks]
                assert len(variants) == options.restocks, f"only {len(variants)} restockable variants"
                environment = {
                    **os.environ,
                    "DAGSTER_HOME": str(home),
                    "BACKINSTOCK_CONFIG": str(world.config_file),
                }
                daemon_log = (world.data_dir / "logs" / "daemon.log").open("w")
                daemon = subprocess.Popen(
                    [DAEMON, "run", "-w", str(ROOT / "workspace.yaml")],
                    cwd=ROOT,
                    env=environment,
                    stdout=daemon_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                daemon_started = datetime.now(UTC)
                results = [
                    play_phase(world, home, path, variants, options) for path in options.paths.split(",")
                ]
                breakdown = [stages(home, restocks, debounce) for restocks in results]
                counts = run_counts(home, daemon_started)
                steps = alerts_steps(home, daemon_started)
            finally:
                if daemon is not None:
                    os.killpg(daemon.pid, signal.SIGTERM)
                    try:
                        daemon.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        os.killpg(daemon.pid, signal.SIGKILL)
                pacer.stopping.set()
                pacer.join()
    print(f"store: {options.scenario}; debounce {options.debounce_minutes} min; load {load_average()}")
    for restocks, where in zip(results, breakdown, strict=True):
        seconds = [value for restock in restocks if (value := latency(restock, debounce)) is not None]
        missing = len(restocks) - len(seconds)
        if not seconds:
            print(f"{restocks[0].path}: no restock reached the provider")
            continue
        print(
            f"{restocks[0].path:8} n={len(seconds)} (missing {missing})  "
            f"p50 {percentile(seconds, 0.5):6.1f} s  p95 {percentile(seconds, 0.95):6.1f} s  "
            f"max {max(seconds):6.1f} s  {sorted(round(value, 1) for value in seconds)}"
        )
        print(f"         where the time goes (medians): {where}")
    print(f"runs: {counts}")
    print(f"alerts steps (medians): {steps}")


if __name__ == "__main__":
    main()
