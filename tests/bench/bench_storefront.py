"""Storefront load on loopback: signups and one-click unsubscribes per second and their latency, while the
pipeline cycle runs against the same operational store, on SQLite or PostgreSQL.

The world is the demo's (simulator, Dagster cycle in this process) on the small store; a storefront process
of its own serves the load, configured like the demo's but with rate limits out of the way (this measures
the app and the store, not the limiter). Load: `--clients` processes, each keeping `--concurrency` requests
in flight for `--seconds` (closed loop, keep-alive connections), every signup a new contact, every
unsubscribe a different subscription's RFC 8058 POST. Pipeline cycles run back to back in a thread during
both phases. Baseline, measured the same way in the same run: `GET /healthz` (the app's floor: routing, one
`SELECT 1`). Errors are any answer but 2xx and any failed connection.

    uv run python tests/bench/bench_storefront.py [--store sqlite|postgresql] [--seconds 10]
        [--clients 2] [--concurrency 16]

PostgreSQL: `BACKINSTOCK_TEST_POSTGRES_URL` names the server; a fresh schema is used and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from backinstock import links
from backinstock.settings import load_settings
from backinstock.store import subscriptions
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import catalog_variants
from orchestration.demo import DEMO_SHOP, DemoPlan, DemoWorld, free_port

LIMITS = ("signups_per_ip", "signups_per_contact", "signups_per_shop", "events_per_ip", "events_per_shop")
NO_LIMITS = {
    f"BACKINSTOCK_STOREFRONT__{name.upper()}__{part}": value
    for name in LIMITS
    for part, value in (("COUNT", "1000000000"), ("SECONDS", "1"))
}


def _load(url: str, kind: str, payloads: list, concurrency: int, seconds: float, out) -> None:
    """One client process: keep `concurrency` requests in flight until the time is up."""

    async def run() -> tuple[list[float], int, int]:
        latencies: list[float] = []
        errors = 0
        sent = 0
        deadline = time.monotonic() + seconds
        queue = iter(payloads)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:

            async def worker() -> None:
                nonlocal errors, sent
                while time.monotonic() < deadline:
                    payload = next(queue, None)
                    if payload is None and kind != "healthz":
                        return
                    started = time.perf_counter()
                    try:
                        if kind == "healthz":
                            answer = await client.get("/healthz")
                        elif kind == "subscribe":
                            body, ip = payload
                            answer = await client.post(
                                "/api/subscriptions", json=body, headers={"X-Forwarded-For": ip}
                            )
                        else:
                            answer = await client.post(payload, data={"List-Unsubscribe": "One-Click"})
                        ok = 200 <= answer.status_code < 300
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - started)
                    sent += 1
                    errors += not ok

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors, sent

    out.put(asyncio.run(run()))


def measure(url: str, kind: str, payloads: list, clients: int, concurrency: int, seconds: float) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    shares = [payloads[index::clients] for index in range(clients)]
    processes = [
        context.Process(target=_load, args=(url, kind, share, concurrency, seconds, out)) for share in shares
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    latencies = sorted(value for result in results for value in result[0])
    count = len(latencies)
    return {
        "kind": kind,
        "requests": count,
        "rate": count / min(elapsed, seconds + 0.5),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))],
        "errors": sum(result[1] for result in results),
    }


class Cycles(threading.Thread):
    """Pipeline cycles back to back (the same `as_of`, as the demo's settle run) until told to stop."""

    def __init__(self, world: DemoWorld, as_of) -> None:
        super().__init__(daemon=True)
        self.world, self.as_of = world, as_of
        self.stop = threading.Event()
        self.seconds: list[float] = []
        self.failure: str | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.seconds.append(self.world.cycle(self.as_of).seconds)
        except Exception as error:  # reported with the figures: load without a cycle is not this benchmark
            self.failure = f"{type(error).__name__}: {error}"


def advance_through(world: DemoWorld, until) -> None:
    """Move the world to `until`, stepping onto every simulator event on the way (as the demo driver does)."""
    world.advance(world.plan.start)
    while world.next_event_at is not None and world.next_event_at < until:
        world.advance(world.next_event_at)
    world.advance(until)


def start_storefront(world: DemoWorld, port: int) -> subprocess.Popen:
    environment = {
        **os.environ,
        "BACKINSTOCK_CONFIG": str(world.config_file),
        "BACKINSTOCK_STOREFRONT_PORT": str(port),
        **NO_LIMITS,
    }
    log = (world.data_dir / "logs" / "bench-storefront.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "storefront"], env=environment, stdout=log, stderr=subprocess.STDOUT
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


def seed_unsubscribes(world: DemoWorld, count: int) -> list[str]:
    """`count` confirmed alerts of different contacts; their unsubscribe links."""
    settings = load_settings(world.config_file)
    engine = create_store_engine(settings.operational_store_url)
    now = world.plan.start + timedelta(days=world.plan.days)
    with engine.begin() as connection:
        variants = shop_variants(connection)
        ids = [
            subscriptions.subscribe(
                connection,
                shop=DEMO_SHOP,
                variant_id=variants[n % len(variants)]["variant_id"],
                product_id=variants[n % len(variants)]["product_id"],
                channel="email",
                contact=f"leaving-{n}@bench.example",
                locale="en",
                client_id=None,
                consent=subscriptions.Consent(text="bench", method="storefront_form"),
                now=now,
            ).subscription_id
            for n in range(count)
        ]
    engine.dispose()
    return [links.unsubscribe_url(settings, DEMO_SHOP, sid).split("/", 3)[3] for sid in ids]


def signup_payloads(world: DemoWorld, count: int) -> list[tuple[dict, str]]:
    settings = load_settings(world.config_file)
    engine = create_store_engine(settings.operational_store_url)
    with engine.connect() as connection:
        variants = [row["variant_id"] for row in shop_variants(connection)]
    engine.dispose()
    rng = random.Random(7)
    return [
        (
            {"shop": DEMO_SHOP, "variant_id": rng.choice(variants), "email": f"bench-{n}@bench.example"},
            f"10.{n % 250}.{n // 250 % 250}.{n % 7 + 1}",
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()
    schema = None
    if options.store == "postgresql":
        base = os.environ["BACKINSTOCK_TEST_POSTGRES_URL"]
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with create_store_engine(base).begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        os.environ["BACKINSTOCK_STORE_URL"] = f"{base}?options=-csearch_path%3D{schema}"
    enough = int(options.seconds * 1500)  # more than the storefront can take in the time
    try:
        with tempfile.TemporaryDirectory() as folder:
            plan = DemoPlan(Path(folder) / "data", "small", 11, 1, 6.0)
            with DemoWorld(plan) as world:
                world.advance(plan.start)
                world.cycle(plan.start)  # the catalog reaches the store
                leaving = seed_unsubscribes(world, enough)
                joining = signup_payloads(world, enough)
                port = free_port()
                storefront = start_storefront(world, port)
                url = f"http://127.0.0.1:{port}"
                try:
                    advance_through(world, plan.start + timedelta(hours=12))
                    baseline = measure(
                        url, "healthz", [], options.clients, options.concurrency, options.seconds
                    )
                    cycles = Cycles(world, plan.start + timedelta(hours=12))
                    cycles.start()
                    time.sleep(3)  # the cycle is under way (ingest, copy of the store)
                    figures = [
                        measure(url, kind, payloads, options.clients, options.concurrency, options.seconds)
                        for kind, payloads in (("subscribe", joining), ("unsubscribe", leaving))
                    ]
                    cycles.stop.set()
                    cycles.join()
                finally:
                    storefront.terminate()
                    storefront.wait(10)
    finally:
        if schema:
            os.environ.pop("BACKINSTOCK_STORE_URL")
            with create_store_engine(base).begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    print(
        f"store: {options.store}; {options.clients} clients x {options.concurrency} in flight, "
        f"{options.seconds:g} s per phase; pipeline cycles during the load: {len(cycles.seconds)} "
        f"({', '.join(f'{s:.1f} s' for s in cycles.seconds)})"
    )
    if cycles.failure or not cycles.seconds:
        print(f"NOT VALID: no pipeline cycle completed during the load ({cycles.failure})")
    print(f"{'':12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'requests':>9}  ratio to healthz")
    for row in [baseline, *figures]:
        print(
            f"{row['kind']:12} {row['rate']:8.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['errors']:7d} {row['requests']:9d}  {row['rate'] / baseline['rate']:.2f}"
        )


if __name__ == "__main__":
    main()
