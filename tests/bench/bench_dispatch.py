"""Dispatch throughput against the simulator's SendGrid fake (served by its own process, on real time):
the dispatcher sending N queued jobs with no rate limit, beside a bare httpx loop posting the same bodies
to the same server with the same concurrency, in the same run (the machine's speed varies: only the ratio
is comparable between runs); and the same loop on the dispatcher's own lane client (its HTTP floor).
Each figure comes with its CPU time per message (the bench's process: for the dispatcher its event loop
and its database thread, or its processes with `--workers`), which the machine's load moves much less
than the rates. `--workers N` runs N dispatcher processes sharing the lane, as several workers run on
PostgreSQL (each has its own store connections).

    uv run python tests/bench/bench_dispatch.py --sends 20000 --stores sqlite,postgresql [--workers 2]

Then the same N jobs again on a lane limited to `--rate` msg/s (default 200): the achieved rate and the
busiest 1-second window, from the fake's own log. PostgreSQL needs BACKINSTOCK_TEST_POSTGRES_URL (a fresh
schema is made and dropped). The claim cost from 1k to 1M queued jobs: tests/bench/bench_claim.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "store"))

from bench_stores import store_url  # noqa: E402
from seed_rows import NOW, signup, target_for  # noqa: E402

from backinstock import templates  # noqa: E402
from backinstock.clock import SystemClock  # noqa: E402
from backinstock.settings import Settings, load_settings  # noqa: E402
from backinstock.store import jobs  # noqa: E402
from backinstock.store.engine import create_store_engine  # noqa: E402
from backinstock.store.migrate import upgrade  # noqa: E402
from dispatch.providers import sendgrid  # noqa: E402
from dispatch.providers.transport import LaneHttp  # noqa: E402
from dispatch.render import compose  # noqa: E402
from dispatch.worker import run  # noqa: E402

API_KEY = "SG.bench-key"


def serve_fakes() -> tuple[subprocess.Popen, str]:
    port = 20000 + os.getpid() % 20000
    config = json.dumps({"sendgrid": {"api_key": API_KEY}})
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.providers", "--port", str(port), "--config", config],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline() if process.stdout else ""
    if "ready" not in line:
        process.kill()
        raise RuntimeError(f"the provider fakes did not start: {line!r}")
    return process, f"http://127.0.0.1:{port}"


def bare_loop(url: str, bodies: list[dict], concurrency: int, own: bool = False) -> tuple[float, float]:
    """msg/s of the floor and its CPU per message (us): post every body, `concurrency` at a time, nothing
    else; with httpx's client on one pool of `concurrency` connections, or (`own`) with the dispatcher's
    lane client (`dispatch.providers.transport.LaneHttp`)."""

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        client = LaneHttp(concurrency, 30) if own else httpx.AsyncClient(limits=limits, timeout=30)
        queue = list(reversed(bodies))

        async def post_all() -> None:
            while queue:
                response = await client.post(f"{url}/v3/mail/send", json=queue.pop(), headers=headers)
                assert response.status_code == 202, response.text

        try:
            started = time.perf_counter()
            await asyncio.gather(*(post_all() for _ in range(concurrency)))
            return len(bodies) / (time.perf_counter() - started)
        finally:
            await client.aclose()

    cpu = time.process_time()
    rate = asyncio.run(main())
    return rate, (time.process_time() - cpu) / len(bodies) * 1e6


def paced(url: str, since: datetime, rate: float) -> dict[str, float]:
    """From the fake's own log: the achieved rate of the requests it received since `since`, and the
    most requests any 1-second window held."""
    log = httpx.get(f"{url}/_sim/providers/log", params={"provider": "sendgrid"}, timeout=60).json()
    arrivals = sorted(
        at
        for at in (datetime.fromisoformat(item["at"]) for item in log["sendgrid"]["requests"])
        if at >= since
    )
    busiest, first = 0, 0
    for last, at in enumerate(arrivals):
        while arrivals[first] <= at - timedelta(seconds=1):
            first += 1
        busiest = max(busiest, last - first + 1)
    achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]).total_seconds()
    return {"achieved": achieved, "busiest_second": busiest, "limit": rate}


def dispatched(engine: sa.Engine, settings: Settings, workers: int) -> tuple[int, float, float]:
    """Jobs sent, seconds and CPU seconds of `workers` dispatchers sharing the lane until the queue is empty:
    one in this process, or each in a process of its own (forked, its own store connections), as several
    workers run on PostgreSQL."""
    if workers == 1:
        cpu = time.process_time()
        report = run(engine, settings, clock=SystemClock(), until_idle=True, for_seconds=3600)
        return report.sent, report.seconds, time.process_time() - cpu
    engine.dispose()  # no connection crosses a fork
    forking = multiprocessing.get_context("fork")
    reports = forking.SimpleQueue()

    def worker(number: int) -> None:
        own = create_store_engine(settings.operational_store_url)
        report = run(own, settings, clock=SystemClock(), until_idle=True, worker_id=f"bench-{number}")
        reports.put(report.sent)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    processes = [
        multiprocessing.get_context("fork").Process(target=worker, args=(n,)) for n in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return sum(reports.get() for _ in processes), seconds, cpu


def bench(
    kind: str, url: str, sends: int, concurrency: int, rate: float | None = None, workers: int = 1
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        address, drop = store_url(kind, Path(folder))
        try:
            engine = create_store_engine(address)
            upgrade(engine)
            settings = load_settings(
                data_dir=Path(folder) / "data",
                store_url=address,
                secret_key="bench-secret-key",
                shops=[{"domain": "test-shop.myshopify.com", "timezone": "UTC"}],
                lanes=[
                    {
                        "name": "sendgrid",
                        "provider": "sendgrid",
                        "api_url": url,
                        "api_key": API_KEY,
                        "concurrency": concurrency,
                        "rate_per_second": rate,
                    }
                ],
                dispatch={"stock_check": False, "batch_size": 500},
            )
            seeding = time.perf_counter()
            with engine.begin() as connection:
                ids = [signup(connection, f"r{n}@example.com") for n in range(sends)]
                targets = [target_for(connection, sid, rank=n) for n, sid in enumerate(ids, 1)]
                jobs.enqueue_targets(connection, targets, NOW)
            print(f"  {kind}: {sends} jobs queued in {time.perf_counter() - seeding:.1f} s", flush=True)
            # The same bodies the dispatcher will send, for the bare loop (jobs claimed, then given back).
            [lane] = settings.delivery_lanes()
            with engine.begin() as connection:
                claimed = jobs.claim(
                    connection, lane="sendgrid", channel="email", worker_id="bench", lease_seconds=600,
                    now=NOW, limit=sends,
                )  # fmt: skip
                source = templates.load(connection, shop=claimed[0].shop, channel="email", locale="en")
                bodies = [sendgrid.body(compose(settings, lane, job, source)) for job in claimed]
                jobs.release(connection, [job.ref for job in claimed], due_at=None, reason="bench", now=NOW)
            floors = (
                [bare_loop(url, bodies, concurrency, own=own) for own in (False, True)]
                if rate is None
                else [(0.0, 0.0), (0.0, 0.0)]
            )
            since = datetime.now(UTC)
            sent, seconds, cpu = dispatched(engine, settings, workers)
            assert sent == sends, (sent, sends)
            engine.dispose()
        finally:
            drop()
    if rate is not None:
        return paced(url, since, rate)
    return {
        "dispatcher": sent / seconds,
        "bare": floors[0][0],
        "bare_own": floors[1][0],
        "dispatcher_cpu": cpu / sends * 1e6,
        "bare_cpu": floors[0][1],
        "bare_own_cpu": floors[1][1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=20_000)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0, help="the limited run's msg/s (0: skip it)")
    parser.add_argument("--limited-only", action="store_true", help="skip the unlimited run")
    parser.add_argument("--workers", type=int, default=1, help="dispatcher processes sharing the lane")
    options = parser.parse_args()
    fakes, url = serve_fakes()
    try:
        for kind in options.stores.split(","):
            if not options.limited_only:
                unlimited(kind, url, options)
            if options.rate:
                limited = bench(
                    kind, url, options.sends, options.concurrency, rate=options.rate, workers=options.workers
                )
                print(
                    f"{kind}: at a limit of {options.rate:.0f} msg/s achieved {limited['achieved']:.1f} msg/s"
                    f" ({limited['achieved'] / options.rate:.3f} of it), busiest 1-second window"
                    f" {limited['busiest_second']} requests; load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
    finally:
        fakes.kill()
        fakes.wait()
    return 0


def unlimited(kind: str, url: str, options: argparse.Namespace) -> None:
    figures = bench(kind, url, options.sends, options.concurrency, workers=options.workers)
    print(
        f"{kind}: dispatcher ({options.workers} process(es)) {figures['dispatcher']:.0f} msg/s,"
        f" bare httpx loop"
        f" {figures['bare']:.0f} msg/s (ratio {figures['dispatcher'] / figures['bare']:.2f}),"
        f" bare loop on the dispatcher's client {figures['bare_own']:.0f} msg/s"
        f" (ratio {figures['dispatcher'] / figures['bare_own']:.2f}); CPU a message: dispatcher"
        f" {figures['dispatcher_cpu']:.0f} us, bare loop {figures['bare_cpu']:.0f} us, on the"
        f" dispatcher's client {figures['bare_own_cpu']:.0f} us;"
        f" load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
