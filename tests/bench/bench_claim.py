"""Claim cost against the size of the queue: the store is filled with 1k, 10k, 100k and 1M claimable jobs
(rows made in SQL, in one statement per step), and at each size a batch is claimed again and again (each
claim rolled back, so every claim sees the same queue), in turn with a second store that holds 1k all along:
median and p95 of one claim at each size, and its ratio to the 1k store's median measured at the same time
(1.0 is flat; the shared machine's load moves both alike). The ratio in turn understates growth on
PostgreSQL, where both stores share the server's buffers, so each size is also reported apart: the growing
store's own median, on SQLite its CPU time, and on PostgreSQL the claim explained (execution time,
buffers touched): the last two do not move with the machine's load.

    uv run python tests/bench/bench_claim.py --stores sqlite,postgresql

PostgreSQL needs BACKINSTOCK_TEST_POSTGRES_URL (a fresh schema is made and dropped). The queue holds
sent jobs too (`--sent-share`, default a half of the rows), as a store that has been sending for a while
does; they are not counted in the sizes."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "store"))

from bench_stores import store_url  # noqa: E402
from recorded_statements import statements_of  # noqa: E402
from seed_rows import NOW, SHOP  # noqa: E402

from backinstock.store import jobs  # noqa: E402
from backinstock.store.engine import create_store_engine  # noqa: E402
from backinstock.store.migrate import upgrade  # noqa: E402
from backinstock.store.tables import UTCDateTime  # noqa: E402

SIZES = (1_000, 10_000, 100_000, 1_000_000)

# Numbers first..last as rows `n`: one statement on either store.
NUMBERS = {
    "sqlite": "WITH RECURSIVE numbers(n) AS"
    " (SELECT :first UNION ALL SELECT n + 1 FROM numbers WHERE n < :last)",
    "postgresql": "WITH numbers(n) AS"
    " (SELECT generate_series(CAST(:first AS integer), CAST(:last AS integer)))",
}
# Subscriptions and their jobs: every `sent_every`-th job is already sent (not claimable, still indexed
# by everything but the claim's partial index); due times spread over the day before NOW; priority is the
# rank among one restock's 1,000 targets.
SUBSCRIPTIONS = """
INSERT INTO subscriptions (id, shop, variant_id, product_id, channel, contact, locale, status, created_at,
    updated_at, consent_text, consent_method, consent_at, confirmed_at)
{numbers}
SELECT n, :shop, 'gid://shopify/ProductVariant/' || (n % 500), 'gid://shopify/Product/' || (n % 500),
    'email', 'r' || n || '@example.com', 'en', 'active', :created, :created, 'Tell me.', 'storefront_form',
    :created, :created
FROM numbers
"""
JOBS = """
INSERT INTO notification_jobs (id, shop, restock_event_id, subscription_id, variant_id, channel, contact,
    locale, status, priority, context, due_at, created_at, updated_at, fence, failures, rate_limited,
    attempt_count)
{numbers}
SELECT n, :shop, 'restock-' || (n / 1000), n, 'gid://shopify/ProductVariant/' || (n % 500), 'email',
    'r' || n || '@example.com', 'en', CASE WHEN n % :sent_every = 0 THEN 'sent' ELSE 'pending' END,
    1 + n % 1000, :context, {due}, :created, :created, 0, 0, 0, 0
FROM numbers
"""
# Due times before NOW: `restocks` as enqueue makes them (ids in due order, a restock's targets side by
# side), `scattered` with due order unrelated to ids (as after many retries, each rescheduled on its own).
DUE = {
    (
        "sqlite",
        "restocks",
    ): "strftime('%Y-%m-%d %H:%M:%f', :due_base, '-3 days', '+' || (n / 10.0) || ' seconds') || '000'",
    (
        "postgresql",
        "restocks",
    ): "CAST(:due_base AS timestamp) - interval '3 days' + n * interval '100 milliseconds'",
    ("sqlite", "scattered"): "strftime('%Y-%m-%d %H:%M:%S', :due_base, '-' || (n % 86400) || ' seconds')"
    " || '.000000'",
    ("postgresql", "scattered"): "CAST(:due_base AS timestamp) - (n % 86400) * interval '1 second'",
}


def fill(engine: sa.Engine, kind: str, layout: str, first: int, last: int, sent_every: int) -> None:
    """Rows first..last (subscriptions and jobs), in two INSERT ... SELECT statements."""
    numbers = NUMBERS[kind]
    values = {
        "first": first,
        "last": last,
        "shop": SHOP,
        "created": NOW - timedelta(days=2),
        "sent_every": sent_every,
        "context": '{"product_title": "Linen Shirt", "variant_title": "M / Blue", "price": "49.90"}',
        "due_base": NOW,
    }
    instants = [sa.bindparam(name, type_=UTCDateTime()) for name in ("created", "due_base")]
    with engine.begin() as connection:
        subscriptions = sa.text(SUBSCRIPTIONS.format(numbers=numbers)).bindparams(instants[0])
        connection.execute(subscriptions, values)
        queued = sa.text(JOBS.format(numbers=numbers, due=DUE[(kind, layout)])).bindparams(*instants)
        connection.execute(queued, values)
    # A running store is checkpointed and analysed: the bulk insert's WAL and stale statistics would be
    # measured instead of the claim.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if kind == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("VACUUM ANALYZE")


CLAIM = {"lane": "bench", "channel": "email", "worker_id": "bench", "lease_seconds": 60, "now": NOW}


def claim_once(engine: sa.Engine, batch: int) -> tuple[float, float]:
    """Milliseconds of one claim of `batch` jobs, rolled back, so every claim sees the same queue: in wall
    clock and in this thread's CPU (SQLite works in it, so its CPU time leaves out the waits of a loaded
    machine)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        started, computed = time.perf_counter(), time.thread_time()
        claimed = jobs.claim(connection, limit=batch, **CLAIM)
        spent, cpu = time.perf_counter() - started, time.thread_time() - computed
        transaction.rollback()
    assert len(claimed) == batch, len(claimed)
    return spent * 1000, cpu * 1000


def explain_once(engine: sa.Engine, batch: int) -> tuple[float, int, int]:
    """PostgreSQL's own account of one claim, rolled back: execution milliseconds, shared buffers touched
    (hit or read) and of those read from outside the server's buffers. The claim's statement is taken as
    the driver sends it and explained with the same parameters."""
    ((sql, parameters),) = statements_of(
        engine, lambda connection: jobs.claim(connection, limit=batch, **CLAIM)
    )
    with engine.connect() as connection:
        (plan,) = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", parameters
        ).scalar_one()
        connection.rollback()
    top = plan["Plan"]
    return (
        plan["Execution Time"],
        top["Shared Hit Blocks"] + top["Shared Read Blocks"],
        top["Shared Read Blocks"],
    )


def median_p95(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def bench(kind: str, layout: str, batch: int, repeats: int, sent_share: float) -> list[dict[str, float]]:
    """At each size: median and p95 of a claim, beside the same figures of a store holding the smallest
    size, measured in turn with it (the shared machine's load moves both alike; only the ratio counts)."""
    sent_every = max(2, round(1 / sent_share)) if sent_share else 10**9
    claimable_per_row = 1 - 1 / sent_every if sent_share else 1.0
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        (address, drop), (base_address, base_drop) = (
            store_url(kind, Path(folder) / "growing"),
            store_url(kind, Path(folder) / "baseline"),
        )
        try:
            engine, baseline = create_store_engine(address), create_store_engine(base_address)
            for store in (engine, baseline):
                upgrade(store)
            fill(baseline, kind, layout, 1, round(SIZES[0] / claimable_per_row), sent_every)
            rows = 0
            for size in SIZES:
                wanted = round(size / claimable_per_row)
                started = time.perf_counter()
                fill(engine, kind, layout, rows + 1, wanted, sent_every)
                rows = wanted
                filled = time.perf_counter() - started
                for store in (engine, baseline):  # warm the caches the way a running dispatcher has them
                    for _ in range(3):
                        claim_once(store, batch)
                sized, based = [], []
                for _ in range(repeats):
                    sized.append(claim_once(engine, batch))
                    based.append(claim_once(baseline, batch))
                (median, p95), (base_median, base_p95) = (
                    median_p95([t[0] for t in sized]),
                    median_p95([t[0] for t in based]),
                )
                figure = {"size": size, "median": median, "p95": p95, "ratio": median / base_median}
                explained = ""
                if kind == "sqlite":
                    figure["cpu"] = statistics.median(t[1] for t in sized)
                    explained = f"; CPU median {figure['cpu']:.2f} ms"
                else:
                    plans = [explain_once(engine, batch) for _ in range(repeats // 2 or 1)]
                    figure["executed"] = statistics.median(plan[0] for plan in plans)
                    figure["buffers"] = statistics.median(plan[1] for plan in plans)
                    explained = (
                        f"; explained: execution {figure['executed']:.2f} ms, {figure['buffers']:,.0f}"
                        f" buffers ({statistics.median(plan[2] for plan in plans):,.0f} read)"
                    )
                figures.append(figure)
                print(
                    f"  {kind} {layout}: {size:>9,} claimable ({rows:,} rows, filled in {filled:.1f} s):"
                    f" claim of {batch}: median {median:.2f} ms, p95 {p95:.2f} ms; {SIZES[0]:,} at the same"
                    f" time: median {base_median:.2f} ms, p95 {base_p95:.2f} ms;"
                    f" ratio {median / base_median:.2f}{explained}"
                    f" (load average {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
            engine.dispose()
            baseline.dispose()
        finally:
            drop()
            base_drop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--batch", type=int, default=200, help="jobs per claim (dispatch.batch_size)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sent-share", type=float, default=0.5, help="share of rows already sent")
    parser.add_argument("--layout", choices=("restocks", "scattered"), default="restocks")
    options = parser.parse_args()
    for kind in options.stores.split(","):
        figures = bench(kind, options.layout, options.batch, options.repeats, options.sent_share)
        first, last = figures[0], figures[-1]
        apart = f"median x{last['median'] / first['median']:.2f}"
        if kind == "sqlite":
            apart += f", CPU x{last['cpu'] / first['cpu']:.2f}"
        else:
            apart += (
                f", execution x{last['executed'] / first['executed']:.2f},"
                f" buffers x{last['buffers'] / first['buffers']:.2f}"
            )
        print(
            f"{kind} {options.layout}: claim of {options.batch}, 1M against 1k queued: measured in turn"
            f" median x{last['ratio']:.2f}; each size measured apart (the growing store): {apart}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
