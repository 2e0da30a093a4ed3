"""Storefront load on loopback: signups and one-click unsubscribes per second and their latency, while the
pipeline cycle runs against the same operational store, on SQLite or PostgreSQL.

The world is the demo's (simulator, Dagster cycle in this process) on the small store; a storefront of its
own (`python -m storefront`, `--workers` processes) serves the load, configured like the demo's but with
rate limits out of the way (this measures the app and the store, not the limiter). The load comes from
`wrk` (Debian's package; C, one thread: a Python generator on the same 2 cores took a large share of them),
`--connections` keep-alive connections each with one request in flight (closed loop) for `--seconds`, every
signup a new contact, every unsubscribe a different person's RFC 8058 POST (`storefront_load.lua`).
Pipeline cycles run back to back in a thread during both phases; how long they overlapped each measured
window is printed. Cycles run on threads of their own, never on the one that starts the storefront and wrk:
the pipeline's warehouse runs lower their thread's CPU priority (`batch_nice`, orchestration/priority.py),
which the processes that thread starts would inherit. Baseline, measured the same way in the same run:
`GET /healthz` (the app's floor: routing, one `SELECT 1`). Errors: any answer but 2xx, any connection
error or timeout.

With `--lock FILE` the measured part (the three phases) runs under an exclusive `flock` on FILE, so it
never overlaps another benchmark that takes the same lock; the world's set-up runs before it.

Afterwards the store is checked: every signup wrk sent is stored at most once, with its one confirmation,
and at least as many as were answered 2xx are stored; every unsubscribe answered 2xx is honoured (the
spool applied first) and none was honoured that was not sent. A failed check makes the run NOT VALID.

    uv run python tests/bench/bench_storefront.py [--store sqlite|postgresql] [--seconds 20]
        [--connections 16] [--workers 1] [--lock /work/lead/bench.lock]

PostgreSQL: `BACKINSTOCK_TEST_POSTGRES_URL` names the server; a fresh schema is used and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from backinstock import links
from backinstock.settings import load_settings
from backinstock.store import outbox, subscriptions
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import catalog_variants, outbox_messages, suppressions
from backinstock.store.tables import subscriptions as subscriptions_table
from backinstock.unsubscribes import spool_of
from orchestration.demo import DEMO_SHOP, DemoPlan, DemoWorld, free_port

LIMITS = ("signups_per_ip", "signups_per_contact", "signups_per_shop", "events_per_ip", "events_per_shop")
NO_LIMITS = {
    f"BACKINSTOCK_STOREFRONT__{name.upper()}__{part}": value
    for name in LIMITS
    for part, value in (("COUNT", "1000000000"), ("SECONDS", "1"))
}
LOAD_SCRIPT = Path(__file__).with_name("storefront_load.lua")
WRK_THREADS = 1
MEASURED_AT = timedelta(hours=12)  # into the simulated day: the storefront's clock during the load


def run_wrk(url: str, kind: str, payloads: Path, connections: int, seconds: float) -> dict:
    """One phase of load; what wrk counted, and which payload lines each of its threads sent."""
    command = [
        *("wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"),
        *("-s", str(LOAD_SCRIPT), url, "--", str(payloads), kind, str(WRK_THREADS)),
    ]
    started = time.monotonic()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    window = (started, time.monotonic())
    threads = [tuple(map(int, row)) for row in re.findall(r"^SENT (\d+) (\d+) (\d+) (\d+)$", output, re.M)]
    p50, p90, p99, worst = (int(v) / 1000 for v in re.search(r"^LATENCY (.+)$", output, re.M)[1].split())
    socket_errors = sum(int(v) for v in re.search(r"^ERRORS (.+)$", output, re.M)[1].split())
    return {
        "kind": kind,
        "window": window,
        "sent": {thread: sent for thread, sent, _, _ in threads},
        "ok": sum(ok for _, _, ok, _ in threads),
        "errors": sum(bad for _, _, _, bad in threads) + socket_errors,
        "rate": float(re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)[1]),
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": worst,
    }


def sent_lines(count: int, sent: dict[int, int]) -> list[int]:
    """Indexes of the payload lines wrk sent: thread t takes lines t, t + T, t + 2T ... in order."""
    return [index for thread, n in sent.items() for index in range(thread, count, WRK_THREADS)[:n]]


class Cycles(threading.Thread):
    """Pipeline cycles back to back (the same `as_of`, as the demo's settle run) until told to stop."""

    def __init__(self, world: DemoWorld, as_of) -> None:
        super().__init__(daemon=True)
        self.world, self.as_of = world, as_of
        self.stop = threading.Event()
        self.intervals: list[tuple[float, float]] = []  # monotonic (start, end) of each cycle
        self.failure: str | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                self.world.cycle(self.as_of)
                self.intervals.append((started, time.monotonic()))
        except Exception as error:  # reported with the figures: load without a cycle is not this benchmark
            self.failure = f"{type(error).__name__}: {error}"

    def overlap(self, window: tuple[float, float]) -> float:
        """Seconds of `window` during which a cycle was running."""
        begin, end = window
        return sum(max(0.0, min(end, stop) - max(begin, start)) for start, stop in self.intervals)


def advance_through(world: DemoWorld, until) -> None:
    """Move the world to `until`, stepping onto every simulator event on the way (as the demo driver does)."""
    world.advance(world.plan.start)
    while world.next_event_at is not None and world.next_event_at < until:
        world.advance(world.next_event_at)
    world.advance(until)


def start_storefront(world: DemoWorld, port: int, workers: int) -> subprocess.Popen:
    environment = {
        **os.environ,
        "BACKINSTOCK_CONFIG": str(world.config_file),
        "BACKINSTOCK_STOREFRONT_PORT": str(port),
        **NO_LIMITS,
    }
    log = (world.data_dir / "logs" / "bench-storefront.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "storefront", *(["--workers", str(workers)] if workers > 1 else [])],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the bench storefront did not start: see {log.name}")


def shop_variants(connection: sa.Connection) -> list[dict]:
    query = sa.select(catalog_variants).where(catalog_variants.c.shop == DEMO_SHOP)
    return [dict(row) for row in connection.execute(query).mappings()]


def seed_unsubscribes(world: DemoWorld, count: int, lines: Path) -> list[str]:
    """`count` confirmed alerts of different contacts, their unsubscribe links written to `lines`; their
    contacts, in the same order."""
    settings = load_settings(world.config_file)
    engine = create_store_engine(settings.operational_store_url)
    # Asked for at the instant the load runs at (not before: the cycles, as of that instant, would target
    # them; not after: an unsubscribe ends only the alerts asked for by its instant).
    now = world.plan.start + MEASURED_AT
    contacts = [f"leaving-{n}@bench.example" for n in range(count)]
    with engine.begin() as connection:
        variants = shop_variants(connection)
        ids = [
            subscriptions.subscribe(
                connection,
                shop=DEMO_SHOP,
                variant_id=variants[n % len(variants)]["variant_id"],
                product_id=variants[n % len(variants)]["product_id"],
                channel="email",
                contact=contact,
                locale="en",
                client_id=None,
                consent=subscriptions.Consent(text="bench", method="storefront_form"),
                now=now,
            ).subscription_id
            for n, contact in enumerate(contacts)
        ]
    engine.dispose()
    paths = ("/" + links.unsubscribe_url(settings, DEMO_SHOP, sid).split("/", 3)[3] for sid in ids)
    lines.write_text("".join(f"{path}\n" for path in paths))
    return contacts


def signup_payloads(world: DemoWorld, count: int, lines: Path) -> list[str]:
    """`count` signups of new contacts (from 1,750 client IPs) written to `lines`; their contacts."""
    settings = load_settings(world.config_file)
    engine = create_store_engine(settings.operational_store_url)
    with engine.connect() as connection:
        variants = [row["variant_id"] for row in shop_variants(connection)]
    engine.dispose()
    rng = random.Random(7)
    contacts = [f"bench-{n}@bench.example" for n in range(count)]
    with lines.open("w") as out:
        for n, contact in enumerate(contacts):
            body = {"shop": DEMO_SHOP, "variant_id": rng.choice(variants), "email": contact}
            out.write(f"{json.dumps(body)}\t10.{n % 250}.{n // 250 % 250}.{n % 7 + 1}\n")
    return contacts


def check_signups(engine: sa.Engine, contacts: list[str], phase: dict) -> list[str]:
    """Every signup sent stored at most once with one confirmation; none missing that was answered."""
    sent = {contacts[index] for index in sent_lines(len(contacts), phase["sent"])}
    s, box = subscriptions_table.c, outbox_messages.c
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(s.contact, sa.func.count(), sa.func.count(box.id.distinct()))
            .select_from(
                subscriptions_table.outerjoin(
                    outbox_messages,
                    sa.and_(box.subscription_id == s.id, box.kind == outbox.CONFIRMATION),
                )
            )
            .where(s.contact.like("bench-%"))
            .group_by(s.contact)
        ).all()
    problems = []
    if any(rows != 1 or confirmations != 1 for _, rows, confirmations in stored):
        problems.append("a signup stored twice, or without exactly one confirmation")
    if {contact for contact, _, _ in stored} - sent:
        problems.append("a signup stored that was never sent")
    if not phase["ok"] <= len(stored) <= len(sent):
        problems.append(f"{len(stored)} signups stored, {phase['ok']} answered 2xx, {len(sent)} sent")
    return problems


def check_unsubscribes(engine: sa.Engine, data_dir: Path, contacts: list[str], phase: dict) -> list[str]:
    """Every unsubscribe answered 2xx honoured (the contact suppressed, no live alert left), and none that
    was not sent."""
    spool_of(data_dir).apply(engine)  # what the store was too busy to take at once
    sent = {contacts[index] for index in sent_lines(len(contacts), phase["sent"])}
    s, sup = subscriptions_table.c, suppressions.c
    with engine.connect() as connection:
        suppressed = set(
            connection.execute(
                sa.select(sup.contact).where(sup.contact.like("leaving-%"), sup.reason == "unsubscribed")
            ).scalars()
        )
        live = set(
            connection.execute(
                sa.select(s.contact).where(s.contact.like("leaving-%"), s.status.in_(subscriptions.LIVE))
            ).scalars()
        )
    problems = []
    if suppressed - sent:
        problems.append("an unsubscribe honoured that was never sent")
    if suppressed & live:
        problems.append("an unsubscribed contact still has a live alert")
    if not phase["ok"] <= len(suppressed) <= len(sent):
        problems.append(
            f"{len(suppressed)} unsubscribes honoured, {phase['ok']} answered 2xx, {len(sent)} sent"
        )
    return problems


@contextlib.contextmanager
def measuring(lock: Path | None):
    """The measured part, under an exclusive flock on `lock` when one is named."""
    if lock is None:
        yield
        return
    with lock.open("a") as held:
        asked = time.monotonic()
        fcntl.flock(held, fcntl.LOCK_EX)
        print(f"waited {time.monotonic() - asked:.0f} s for {lock}", flush=True)
        yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lock", type=Path, help="hold an exclusive flock on this file while measuring")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    schema = None
    if options.store == "postgresql":
        base = os.environ["BACKINSTOCK_TEST_POSTGRES_URL"]
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with create_store_engine(base).begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        os.environ["BACKINSTOCK_STORE_URL"] = f"{base}?options=-csearch_path%3D{schema}"
    enough = int(options.seconds * 2500)  # more than the storefront can take in the time
    problems: list[str] = []
    loads = [os.getloadavg()[0]]
    try:
        with tempfile.TemporaryDirectory() as folder:
            plan = DemoPlan(Path(folder) / "data", "small", 11, 1, 6.0)
            leaving_lines, joining_lines = Path(folder) / "unsubscribes.txt", Path(folder) / "signups.txt"
            with DemoWorld(plan) as world:
                world.advance(plan.start)
                # The catalog reaches the store. On a thread of its own: a batch run lowers its thread's
                # CPU priority for good (orchestration/priority.py); this one starts the storefront and wrk.
                with ThreadPoolExecutor(1) as aside:
                    aside.submit(world.cycle, plan.start).result()
                leaving = seed_unsubscribes(world, enough, leaving_lines)
                joining = signup_payloads(world, enough, joining_lines)
                port = free_port()
                storefront = start_storefront(world, port, options.workers)
                url = f"http://127.0.0.1:{port}"
                try:
                    advance_through(world, plan.start + MEASURED_AT)
                    with measuring(options.lock):
                        loads.append(os.getloadavg()[0])
                        baseline = run_wrk(
                            url, "healthz", Path(os.devnull), options.connections, options.seconds
                        )
                        cycles = Cycles(world, plan.start + MEASURED_AT)
                        cycles.start()
                        time.sleep(3)  # the cycle is under way (ingest, copy of the store)
                        figures = []
                        for kind, lines in (("subscribe", joining_lines), ("unsubscribe", leaving_lines)):
                            loads.append(os.getloadavg()[0])
                            figures.append(run_wrk(url, kind, lines, options.connections, options.seconds))
                        loads.append(os.getloadavg()[0])
                        cycles.stop.set()
                    cycles.join()  # the cycle under way ends outside the lock
                finally:
                    storefront.terminate()
                    storefront.wait(30)
                store = create_store_engine(load_settings(world.config_file).operational_store_url)
                problems += check_signups(store, joining, figures[0])
                problems += check_unsubscribes(store, world.data_dir, leaving, figures[1])
                store.dispose()
    finally:
        if schema:
            os.environ.pop("BACKINSTOCK_STORE_URL")
            with create_store_engine(base).begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    print(
        f"store: {options.store}; storefront workers: {options.workers}; wrk: {WRK_THREADS} thread, "
        f"{options.connections} connections, {options.seconds:g} s per phase; load average (1 min) during "
        f"the run: {', '.join(f'{load:.1f}' for load in loads)}"
    )
    cycled = ", ".join(f"{stop - start:.1f} s" for start, stop in cycles.intervals)
    print(f"pipeline cycles during the load: {len(cycles.intervals)} ({cycled})")
    if cycles.failure or not cycles.intervals:
        problems.append(f"no pipeline cycle completed during the load ({cycles.failure})")
    for row in [baseline, *figures]:
        if row["errors"]:
            problems.append(f"{row['errors']} errors in the {row['kind']} phase")
    header = f"{'':12} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
    print(f"{header} {'answered':>8} {'cycle overlap':>13}  ratio to healthz")
    for row in [baseline, *figures]:
        overlap = "" if row is baseline else f"{cycles.overlap(row['window']):.1f} s"
        print(
            f"{row['kind']:12} {row['rate']:7.0f} {row['p50_ms']:7.1f} {row['p90_ms']:7.1f} "
            f"{row['p99_ms']:7.1f} {row['max_ms']:7.1f} {row['errors']:6d} {row['ok']:8d} {overlap:>13}  "
            f"{row['rate'] / baseline['rate']:.2f}"
        )
    print("store checked: every signup stored once, every unsubscribe honoured" if not problems else "")
    for problem in problems:
        print(f"NOT VALID: {problem}")


if __name__ == "__main__":
    main()
