"""Console pages at scale: each page's p95 with 1M jobs and 5M attempts in the store (target: < 300 ms).

The store (SQLite, migrated by Alembic) is filled inside SQLite (recursive CTEs, nothing row by row in
Python): `--jobs` subscriptions and jobs of 2 shops, 3 lanes and 2,000 restock events, in every state
(sent 80 %, skipped 5 %, pending 4 %, retry 3 %, dead letter 3 %, deferred 2 %, held 1 %, failed 1 %,
sending 1 %), `--attempts-per-job` attempts each, and 20,000 audit entries. The marts are published by the
pipeline's own publish step at the matching scale: 90 days, 20,000 variants of 5,000 products with a row
on a quarter of the days, one restock event per 500 jobs, 2,000 sold-out variants with waiting subscribers.

The console runs as `python -m dashboards` (its own process, uvicorn) on a loopback port; one signed-in
client asks each page `--requests` times in turn after 3 warm-ups and records the wall time of each answer
(the KPI views marked {n} are new to the console at every request: no remembered answer).
Baseline, measured in the same run: the same pages over a store and marts 1,000 times smaller; the ratio
says what the scale costs.

    uv run python tests/bench/bench_dashboards.py [--jobs 1000000] [--attempts-per-job 5] [--requests 28]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import sqlalchemy as sa

from backinstock.store import users
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.tables import PERMISSIONS
from orchestration.defs.marts.assets import publish_mart

SHOPS = ("bench-a.myshopify.com", "bench-b.myshopify.com")
LANES = ("email", "postmark-main", "sms")
START = "2026-08-01 00:00:00"
AS_OF = datetime(2026, 10, 30, tzinfo=UTC)
PASSWORD = "bench password, long enough"
TARGET_MS = 300.0
# status by job number modulo 100
STATUS_CASE = """CASE
    WHEN n % 100 < 80 THEN 'sent' WHEN n % 100 < 85 THEN 'skipped' WHEN n % 100 < 89 THEN 'pending'
    WHEN n % 100 < 92 THEN 'retry_scheduled' WHEN n % 100 < 95 THEN 'dead_letter'
    WHEN n % 100 < 97 THEN 'deferred' WHEN n % 100 < 98 THEN 'held' WHEN n % 100 < 99 THEN 'failed_permanent'
    ELSE 'sending' END"""


def fill_store(url: str, jobs: int, attempts_per_job: int) -> None:
    """Subscriptions, jobs and attempts generated inside SQLite."""
    engine = create_store_engine(url)
    upgrade(engine)
    audits = max(jobs // 50, 20)
    series = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {jobs})"
    shop = f"CASE WHEN n % 2 = 0 THEN '{SHOPS[0]}' ELSE '{SHOPS[1]}' END"
    with engine.begin() as connection:
        run = connection.exec_driver_sql
        run(
            f"""{series}
            INSERT INTO subscriptions (id, shop, variant_id, product_id, channel, contact, locale, status,
                created_at, updated_at, consent_text, consent_method, consent_at, confirmed_at)
            SELECT n, {shop}, 'gid://shopify/ProductVariant/' || (n % 20000),
                'gid://shopify/Product/' || (n % 5000), CASE WHEN n % 10 = 0 THEN 'sms' ELSE 'email' END,
                'shopper' || n || '@example.com', 'en', 'notified',
                datetime('{START}', '+' || (n * 7 % 7776000) || ' seconds'),
                datetime('{START}', '+' || (n * 7 % 7776000) || ' seconds'), 'consent', 'form',
                datetime('{START}', '+' || (n * 7 % 7776000) || ' seconds'),
                datetime('{START}', '+' || (n * 7 % 7776000) || ' seconds')
            FROM s"""
        )
        run(
            f"""{series}
            INSERT INTO notification_jobs (id, shop, restock_event_id, subscription_id, variant_id, channel,
                contact, locale, status, priority, context, due_at, attempt_count, created_at, updated_at,
                sent_at, lane, last_error, last_error_class)
            SELECT n, {shop}, 'restock-' || (n % 2000), n, 'gid://shopify/ProductVariant/' || (n % 20000),
                CASE WHEN n % 10 = 0 THEN 'sms' ELSE 'email' END, 'shopper' || n || '@example.com', 'en',
                {STATUS_CASE}, n / 2000, '{{"product_title": "Product"}}',
                datetime('{START}', '+' || (n * 7 % 7776000 + 600) || ' seconds'), {attempts_per_job},
                datetime('{START}', '+' || (n * 7 % 7776000) || ' seconds'),
                datetime('{START}', '+' || (n * 7 % 7776000 + 900) || ' seconds'),
                CASE WHEN n % 100 < 80 THEN datetime('{START}', '+' || (n * 7 % 7776000 + 900) || ' seconds')
                END,
                CASE n % 3 WHEN 0 THEN '{LANES[0]}' WHEN 1 THEN '{LANES[1]}' ELSE '{LANES[2]}' END,
                CASE WHEN n % 100 BETWEEN 92 AND 94 THEN 'HTTP 503 after 5 attempts' END,
                CASE WHEN n % 100 BETWEEN 92 AND 94 THEN 'transient' END
            FROM s"""
        )
        run(
            f"""WITH RECURSIVE a(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM a WHERE k < {attempts_per_job})
            INSERT INTO notification_attempts (job_id, attempt_number, provider, started_at, finished_at,
                status_code, outcome, latency_ms, lane)
            SELECT j.id, a.k, 'sendgrid', datetime(j.created_at, '+' || (a.k * 60) || ' seconds'),
                datetime(j.created_at, '+' || (a.k * 60 + 1) || ' seconds'),
                CASE WHEN a.k = {attempts_per_job} AND j.status = 'sent' THEN 202 ELSE 503 END,
                CASE WHEN a.k = {attempts_per_job} AND j.status = 'sent' THEN 'accepted' ELSE 'transient' END,
                120.0, j.lane
            FROM notification_jobs AS j CROSS JOIN a ORDER BY j.id, a.k"""
        )
        run(
            f"""WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {audits})
            INSERT INTO audit_log (occurred_at, actor, action, target_type, target_id, details)
            SELECT datetime('{START}', '+' || (n * 300) || ' seconds'), 'ops' || (n % 7),
                CASE n % 3 WHEN 0 THEN 'jobs.replay' WHEN 1 THEN 'rules.set' ELSE 'lanes.resume' END,
                'job', CAST(n AS TEXT), '{{"reason": "bench"}}'
            FROM s"""
        )
        users.add_user(connection, name="bench", password=PASSWORD, permissions=PERMISSIONS, actor="bench",
                       now=AS_OF)  # fmt: skip
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


# the KPI counts, each a function of a hash `h` of the row's keys
COUNTS = {
    "product_viewers": "h % 50",
    "variant_viewers": "h % 50",
    "signups": "h % 7",
    "restocks": "h % 2",
    "notification_jobs": "h % 9",
    "notifications_attempted": "h % 9",
    "notifications_sent": "h % 8",
    "notifications_delivered": "h % 8",
    "notifications_opened": "h % 5",
    "notifications_clicked": "h % 3",
    "notifications_converted": "h % 2",
    "attributed_orders": "h % 2",
    "total_orders": "h % 11",
    "attributed_revenue": "(h % 2) * 25.00",
    "total_revenue": "(h % 11) * 31.00",
}
NAMES = ", ".join(COUNTS)
SUMS = ", ".join(
    f"sum({name})::{'DECIMAL(14,2)' if 'revenue' in name else 'BIGINT'} AS {name}" for name in COUNTS
)


def counts(hashed: str) -> str:
    """The count columns for rows whose keys hash to `hashed`."""
    return ", ".join(
        f"({expression.replace('h', f'(hash({hashed}) % 1000)')})"
        f"::{'DECIMAL(14,2)' if 'revenue' in name else 'BIGINT'} AS {name}"
        for name, expression in COUNTS.items()
    )


WAITING = """
    SELECT shop, variant_id, product_id, product_title, variant_title, sku,
        row_number() OVER (PARTITION BY shop ORDER BY hash(variant_id) % 97 DESC, variant_id) AS demand_rank,
        (hash(variant_id) % 97 + 1)::BIGINT AS waiting_subscribers,
        (hash(variant_id) % 97 + 1)::BIGINT AS waiting_email_subscribers,
        0::BIGINT AS waiting_sms_subscribers, price,
        ((hash(variant_id) % 97 + 1) * price)::DECIMAL(14,2) AS waiting_value, 'EUR' AS currency_code,
        TIMESTAMP '2026-10-01' AS oldest_signup_at, TIMESTAMP '2026-10-20' AS newest_signup_at,
        29.0 AS oldest_signup_age_days, TIMESTAMP '2026-09-30' AS sold_out_since,
        2::BIGINT AS product_past_restocks, TIMESTAMP '2026-09-01' AS product_last_restocked_at,
        40::BIGINT AS product_past_notifications_sent, 4::BIGINT AS product_past_notifications_converted,
        0.1 AS product_past_conversion_rate, 100.00::DECIMAL(14,2) AS product_past_attributed_revenue,
        TIMESTAMP '2026-10-30' AS as_of
    FROM variants WHERE hash(variant_id) % 10 = 0
"""


def publish_marts(folder: Path, variants: int, days: int) -> None:
    """The marts the KPI pages read, generated in DuckDB and written by the pipeline's publish step."""
    products = max(variants // 4, 1)
    shops = f"(SELECT unnest({list(SHOPS)}) AS shop)"
    tables = {
        "kpi_daily": f"""SELECT shop, DATE '2026-08-01' + d::INTEGER AS kpi_date, 'EUR' AS currency_code,
            {counts("shop, d")} FROM {shops} CROSS JOIN range({days}) AS t(d)""",
        "kpi_summary": f"SELECT shop, 'EUR' AS currency_code, {SUMS} FROM kpi_daily GROUP BY shop",
        "kpi_channels_daily": f"""SELECT shop, kpi_date, channel, currency_code, {NAMES} FROM kpi_daily
            CROSS JOIN (SELECT unnest(['email', 'sms']) AS channel)""",
        # a row for a quarter of the (variant, day) pairs
        "kpi_variants_daily": f"""SELECT shop, DATE '2026-08-01' + (e * 4 + v % 4)::INTEGER AS kpi_date,
            'gid://shopify/Product/' || (v % {products}) AS product_id,
            'gid://shopify/ProductVariant/' || v AS variant_id, 'EUR' AS currency_code, {counts("v, e")}
            FROM {shops} CROSS JOIN range({variants}) AS t(v) CROSS JOIN range({days // 4}) AS u(e)""",
        "kpi_products_daily": f"""SELECT shop, kpi_date, product_id, 'EUR' AS currency_code, {SUMS}
            FROM kpi_variants_daily GROUP BY ALL""",
        "kpi_restock_events": f"""SELECT shop, 'restock-' || r AS restock_event_id,
            'gid://shopify/Product/' || (r % {products}) AS product_id,
            'gid://shopify/ProductVariant/' || (r % {variants}) AS variant_id,
            TIMESTAMP '2026-08-01' + to_seconds(r * 600) AS restocked_at,
            (TIMESTAMP '2026-08-01' + to_seconds(r * 600))::DATE AS restock_date, {counts("shop, r")}
            FROM {shops} CROSS JOIN range({max(variants // 10, 2)}) AS t(r)""",
        "variants": f"""SELECT shop, 'gid://shopify/ProductVariant/' || v AS variant_id,
            'gid://shopify/Product/' || (v % {products}) AS product_id,
            'Product ' || (v % {products}) AS product_title, 'Size ' || (v % 4) AS variant_title,
            'SKU' || v AS sku, 25.00::DECIMAL(14,2) AS price
            FROM {shops} CROSS JOIN range({variants}) AS t(v)""",
        "waiting_demand": WAITING,
    }
    with duckdb.connect(":memory:") as warehouse:
        for mart, query in tables.items():
            warehouse.execute(f"CREATE TABLE {mart} AS {query}")
            publish_mart(warehouse, mart, folder, AS_OF)


# Pages beside the navigation's: searches and details, and views of the KPI page that are new to it at
# every request ({n} is the request's number: the console remembers answers per publication, so a repeated
# view measures that memory, a new one the queries).
EXTRA_PATHS = (
    "/trace?restock_event=restock-7",
    "/trace?contact=shopper77%40example.com",
    "/trace/jobs/77",
    "/audit?actor=ops3",
    f"/kpis?shop={SHOPS[0]}&start=2026-08-01&end=2026-10-{{n}}",
    f"/kpis/variants.csv?shop={SHOPS[1]}&start=2026-08-01&end=2026-10-{{n}}",
    f"/waiting-demand?shop={SHOPS[1]}",
)


def page_paths(client: httpx.Client) -> list[str]:
    """Every page in the console's navigation, then EXTRA_PATHS."""
    home = client.get("/").text
    navigation = re.findall(r"<nav>(.*?)</nav>", home, re.S)[0]
    return [*re.findall(r'href="([^"]+)"', navigation), *EXTRA_PATHS]


def at(path: str, number: int) -> str:
    """`path` for request `number`: days 01 to 28 of October for the requests, 31, 30, 29 for the warm-ups."""
    return path.replace("{n}", f"{number % 31 + 1:02d}")


def measure(data_dir: Path, requests: int) -> dict[str, list[float]]:
    """Serve the console on `data_dir` and time each page `requests` times (milliseconds)."""
    port = 18000 + os.getpid() % 1000
    environment = {key: value for key, value in os.environ.items() if not key.startswith("BACKINSTOCK_")}
    environment |= {
        "BACKINSTOCK_CONFIG": str(data_dir / "none.toml"),
        "BACKINSTOCK_DATA_DIR": str(data_dir),
        "BACKINSTOCK_SECRET_KEY": "bench-secret",
        "BACKINSTOCK_DASHBOARDS__PORT": str(port),
        "BACKINSTOCK_SHOPS": json.dumps(
            [{"domain": shop, "access_token": "bench", "webhook_secret": "bench"} for shop in SHOPS]
        ),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "dashboards"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    timings: dict[str, list[float]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    form = client.get("/sign-in")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise
                    time.sleep(0.2)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
            answer = client.post(
                "/sign-in", data={"name": "bench", "password": PASSWORD, "csrf_token": token}
            )
            assert answer.status_code == 303, answer.text
            for path in page_paths(client):
                for number in range(3):
                    client.get(at(path, -1 - number))
                samples = []
                for number in range(requests):
                    started = time.perf_counter()
                    answer = client.get(at(path, number))
                    samples.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code, answer.text[-500:])
                timings[path] = samples
    finally:
        server.terminate()
        server.wait(timeout=20)
    return timings


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def prepare(root: Path, jobs: int, attempts_per_job: int, variants: int) -> tuple[Path, float]:
    """The store and marts under root/data, made unless an earlier run (--work) left them there."""
    data_dir = root / "data"
    if (data_dir / "marts" / "waiting_demand.parquet").is_file():
        return data_dir, 0.0
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    started = time.perf_counter()
    fill_store(f"sqlite:///{data_dir / 'backinstock.db'}", jobs, attempts_per_job)
    publish_marts(data_dir / "marts", variants, days=90)
    return data_dir, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--attempts-per-job", type=int, default=5)
    parser.add_argument("--variants", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=28)
    parser.add_argument("--work", type=Path, help="keep the filled store and marts here and reuse them")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dashboards-") as temporary:
        root = options.work or Path(temporary)
        small_jobs, small_variants = max(options.jobs // 1000, 100), max(options.variants // 1000, 40)
        small_dir, _ = prepare(
            root / f"small-{options.jobs}", small_jobs, options.attempts_per_job, small_variants
        )
        big_dir, seconds = prepare(
            root / f"big-{options.jobs}", options.jobs, options.attempts_per_job, options.variants
        )
        engine = sa.create_engine(f"sqlite:///{big_dir / 'backinstock.db'}")
        with engine.connect() as connection:
            jobs = connection.exec_driver_sql("SELECT count(*) FROM notification_jobs").scalar()
            attempts = connection.exec_driver_sql("SELECT count(*) FROM notification_attempts").scalar()
        engine.dispose()
        print(f"store: {jobs:,} jobs, {attempts:,} attempts ({seconds:.0f} s to fill and publish)")
        baseline = measure(small_dir, options.requests)
        loaded = measure(big_dir, options.requests)
    print(f"{'page':<58} {'p50 ms':>8} {'p95 ms':>8} {'base p95':>9} {'ratio':>6}")
    failed = []
    for path, samples in loaded.items():
        base = p95(baseline[path])
        figure = p95(samples)
        print(f"{path:<58} {statistics.median(samples):8.1f} {figure:8.1f} {base:9.1f} {figure / base:6.2f}")
        if figure >= TARGET_MS:
            failed.append(path)
    print("every page under 300 ms at p95" if not failed else f"over 300 ms at p95: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
