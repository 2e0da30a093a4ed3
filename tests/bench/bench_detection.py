"""Detection at scale: one incremental cycle on a 15-minute delta, against history length; and a rebuild.

The shop: 100k variants (DENY, tracked) of 20k products, 3 locations (two selling online, one retail store),
a full read of every level at the start, then on average `--changes-per-day` changes per level per day as
`inventory_levels/update` webhooks (random instants and quantities from 0 to 5, a third of them received up
to 10 minutes late), and 1M subscriptions over the history (10 % unsubscribed). All of it is generated inside
DuckDB (range / hash), nothing row by row in Python.

For each history length (`--days`, default 30 and 90): the explicit rebuild of the detection models
(`dbt build --full-refresh --vars '{rebuild_decisions: true}'`) as of the end of the history, then a 15-minute
delta of webhooks and signups and one incremental cycle (`dbt build` of the same models and their data tests,
as the pipeline runs them). Baseline, measured in the same run: a bare `dbt build` of one staging view (dbt's
start, parse and connection, the floor of any cycle). Figures come from dbt's own resource report: wall clock
and peak RSS of the dbt process, which runs DuckDB in process; "nodes" is the sum of dbt's per-node execution
times (the work of the models and tests, without dbt's start; two threads can overlap them).

    uv run python tests/bench/bench_detection.py [--days 30 90] [--variants 100000] [--memory-limit 1536MB]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from backinstock.settings import Settings
from orchestration.defs.dbt.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from orchestration.warehouse import ensure_raw_schema

SHOP = "bench.myshopify.com"
START = datetime(2026, 1, 1)
LOCATIONS = ((1, True, True), (2, True, True), (3, True, False))  # number, active, fulfils online orders
DETECTION = "+target_releases +restock_late_data"
STEPS = ("generate", "rebuild", "cycle")


def generate(path: Path, variants: int, days: int, changes_per_day: float, subscriptions: int) -> datetime:
    """Write the raw layer of `days` of history; returns the instant the history ends."""
    end = START + timedelta(days=days)
    changes = int(variants * len(LOCATIONS) * days * changes_per_day)
    with duckdb.connect(str(path)) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        ensure_raw_schema(connection)
        connection.execute(
            "INSERT INTO raw_shopify.shops (shop, shop_id, name, currency_code, iana_timezone, _ingested_at)"
            " VALUES (?, 'gid://shopify/Shop/1', 'Bench', 'EUR', 'Europe/Berlin', ?)",
            [SHOP, START],
        )
        for number, active, online in LOCATIONS:
            connection.execute(
                "INSERT INTO raw_shopify.locations (shop, location_id, name, is_active,"
                " fulfills_online_orders, _ingested_at) VALUES (?, ?, 'L', ?, ?, ?)",
                [SHOP, f"gid://shopify/Location/{number}", active, online, START],
            )
        connection.execute(
            f"""
            INSERT INTO raw_shopify.products (shop, product_id, title, handle, status, updated_at,
                _ingested_at)
            SELECT '{SHOP}', 'gid://shopify/Product/' || p, 'Product ' || p, 'product-' || p, 'ACTIVE',
                TIMESTAMP '{START}', TIMESTAMP '{START}'
            FROM range({variants // 5}) AS t(p)
            """
        )
        connection.execute(
            f"""
            INSERT INTO raw_shopify.variants (shop, variant_id, product_id, inventory_item_id, title, sku,
                price, inventory_policy, tracked, updated_at, _ingested_at)
            SELECT '{SHOP}', 'gid://shopify/ProductVariant/' || v, 'gid://shopify/Product/' || (v // 5),
                'gid://shopify/InventoryItem/' || v, 'V', 'SKU-' || v, 10.00, 'DENY', true,
                TIMESTAMP '{START}', TIMESTAMP '{START}'
            FROM range({variants}) AS t(v)
            """
        )
        connection.execute(
            f"""
            INSERT INTO raw_shopify.inventory_levels (shop, inventory_level_id, inventory_item_id,
                location_id, available, updated_at, _ingested_at, is_active)
            SELECT '{SHOP}', 'gid://shopify/InventoryLevel/' || (1000000 + v * 3 + l),
                'gid://shopify/InventoryItem/' || v, 'gid://shopify/Location/' || (l + 1),
                (hash(v, l) % 4)::INTEGER, TIMESTAMP '{START}', TIMESTAMP '{START}', true
            FROM range({variants}) AS a(v), range({len(LOCATIONS)}) AS b(l)
            """
        )
        connection.execute(
            f"""
            INSERT INTO raw_shopify.inventory_level_reads
            SELECT '{SHOP}', 'gid://shopify/Location/' || l, true, {variants}, TIMESTAMP '{START}'
            FROM range(1, {len(LOCATIONS) + 1}) AS t(l)
            """
        )
        append_webhooks(connection, 0, changes, START, end, variants)
        append_subscriptions(connection, 0, subscriptions, START, end, variants)
    return end


def append_webhooks(
    connection, first_id: int, count: int, start: datetime, end: datetime, variants: int
) -> None:
    span = int((end - start).total_seconds())
    changed_at = f"TIMESTAMP '{start}' + to_seconds(1 + hash(n, 'at') % {span - 1})"
    delay = "to_seconds(CASE WHEN hash(n, 'late') % 3 = 0 THEN hash(n, 'delay') % 600 ELSE 1 END)"
    connection.execute(
        f"""
        INSERT INTO raw_app.webhook_inbox (id, shop, topic, webhook_id, event_id, api_version, triggered_at,
            received_at, payload, _copied_at, _known_at)
        SELECT id, '{SHOP}', 'inventory_levels/update', 'w' || id, 'e' || id, '2026-07', changed_at,
            received_at, payload, received_at, received_at
        FROM (
            SELECT
                {first_id} + n AS id,
                {changed_at} AS changed_at,
                {changed_at} + {delay} AS received_at,
                '{{"inventory_item_id": ' || (hash(n, 'v') % {variants})
                    || ', "location_id": ' || (1 + hash(n, 'l') % {len(LOCATIONS)})
                    || ', "available": ' || (hash(n, 'q') % 6)
                    || ', "updated_at": "' || strftime({changed_at}, '%Y-%m-%dT%H:%M:%S') || '+00:00"}}'
                    AS payload
            FROM range(1, {count + 1}) AS t(n)
        )
        WHERE received_at <= TIMESTAMP '{end}'
        """
    )


def append_subscriptions(
    connection, first_id: int, count: int, start: datetime, end: datetime, variants: int
) -> None:
    span = int((end - start).total_seconds())
    connection.execute(
        f"""
        INSERT INTO raw_app.subscriptions (id, shop, variant_id, product_id, channel, contact, locale,
            status, created_at, confirmed_at, updated_at, unsubscribed_at, consent_text, consent_method,
            consent_at)
        SELECT id, '{SHOP}', 'gid://shopify/ProductVariant/' || v, 'gid://shopify/Product/' || (v // 5),
            'email', 'shopper' || id || '@example.com', 'en',
            CASE WHEN unsubscribed THEN 'unsubscribed' ELSE 'active' END, created_at - INTERVAL 10 MINUTE,
            created_at, created_at, CASE WHEN unsubscribed THEN created_at + INTERVAL 1 HOUR END, 'yes',
            'form', created_at
        FROM (
            SELECT {first_id} + n AS id, hash(n, 'sv') % {variants} AS v,
                TIMESTAMP '{start}' + to_seconds(hash(n, 'st') % {span}) AS created_at,
                hash(n, 'u') % 10 = 0 AS unsubscribed
            FROM range(1, {count + 1}) AS t(n)
        )
        """
    )


def dbt_build(
    warehouse: Path, target: Path, as_of: datetime, memory_limit: str, *arguments: str
) -> dict[str, float]:
    """One dbt invocation; its wall clock and peak RSS from dbt's resource report."""
    environment = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "BACKINSTOCK_WAREHOUSE_PATH": str(warehouse),
        "BACKINSTOCK_AS_OF": as_of.strftime("%Y-%m-%d %H:%M:%S"),
        "BACKINSTOCK_DUCKDB_MEMORY_LIMIT": memory_limit,
    }
    logs = target / "logs"
    command = [
        DBT_EXECUTABLE, "build", "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(logs), "--exclude-resource-type", "unit_test",
        "--indirect-selection", "cautious",
        *arguments,
    ]  # fmt: skip
    finished = subprocess.run(command, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(finished.stdout[-4000:])
    report = json.loads(re.findall(r"Resource report: (\{.*\})", (logs / "dbt.log").read_text())[-1])
    nodes = json.loads((target / "run_results.json").read_text())["results"]
    slowest = sorted(nodes, key=lambda node: node["execution_time"], reverse=True)[:6]
    return {
        "seconds": float(report["command_wall_clock_time"]),
        "peak_rss_mib": int(report["process_mem_max_rss"]) / 1024,
        "slowest": [(node["unique_id"].split(".")[2], node["execution_time"]) for node in slowest],
        "nodes_seconds": sum(node["execution_time"] for node in nodes),
    }


def measure(days: int, options: argparse.Namespace, folder: Path) -> dict:
    """The steps asked for of one history length; what earlier steps measured is kept in `folder`."""
    warehouse = folder / f"warehouse_{days}d.duckdb"
    saved = folder / f"results_{days}d.json"
    result = json.loads(saved.read_text()) if saved.exists() else {"days": days}
    if "generate" in options.steps:
        end = generate(warehouse, options.variants, days, options.changes_per_day, options.subscriptions)
        result = {"days": days, "end": end.isoformat()}
    end = datetime.fromisoformat(result["end"])
    target = folder / f"target_{days}"
    limit = options.memory_limit
    if "rebuild" in options.steps:
        result["floor"] = dbt_build(warehouse, target, end, limit, "--select", "stg_shopify__shops")
        rebuild_vars = json.dumps({"rebuild_decisions": True})
        result["rebuild"] = dbt_build(
            warehouse, target, end, limit, "--select", DETECTION, "--full-refresh", "--vars", rebuild_vars
        )
    if "cycle" in options.steps:
        delta_end = end + timedelta(minutes=15)
        with duckdb.connect(str(warehouse)) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            newest_webhook = connection.execute("SELECT max(id) FROM raw_app.webhook_inbox").fetchone()[0]
            per_15_minutes = int(options.variants * len(LOCATIONS) * options.changes_per_day / 96)
            append_webhooks(connection, newest_webhook, per_15_minutes, end, delta_end, options.variants)
            newest_signup = connection.execute("SELECT max(id) FROM raw_app.subscriptions").fetchone()[0]
            signups = max(options.subscriptions // (days * 96), 1)
            append_subscriptions(connection, newest_signup, signups, end, delta_end, options.variants)
        result["cycle"] = dbt_build(warehouse, target, delta_end, limit, "--select", DETECTION)
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            result["facts"], result["restocks"] = connection.execute(
                "SELECT (SELECT count(*) FROM int_inventory_facts), (SELECT count(*) FROM restock_events)"
            ).fetchone()
        warehouse.unlink()
    saved.write_text(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, nargs="+", default=[30, 90])
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--changes-per-day", type=float, default=1.0)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    # DuckDB's memory_limit for every dbt run: the product's default (settings.duckdb_memory_limit)
    parser.add_argument("--memory-limit", default=Settings.model_fields["duckdb_memory_limit"].default)
    # a long run split into shorter ones (each under the shared benchmark lock): --folder keeps the warehouse
    # and the figures between `--steps generate`, `--steps rebuild` and `--steps cycle`; `--steps` alone
    # prints what was measured
    parser.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    parser.add_argument("--folder", type=Path)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = options.folder or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        results = [measure(days, options, folder) for days in options.days]
    print(
        f"{options.variants:,} variants x {len(LOCATIONS)} locations, {options.changes_per_day:g} change"
        f" per level per day, {options.subscriptions:,} subscriptions,"
        f" DuckDB memory_limit {options.memory_limit}"
    )
    for result in results:
        figures_of = {"rebuild": result.get("rebuild"), "cycle": result.get("cycle")}
        facts, restocks = result.get("facts", 0), result.get("restocks", 0)
        print(f"{result['days']:>3} days ({facts:,} facts, {restocks:,} restocks):")
        for label, figures in figures_of.items():
            if figures:
                print(
                    f"    {label:<25} {figures['seconds']:7.1f} s"
                    f"   peak RSS {figures['peak_rss_mib']:5.0f} MiB"
                    f"   nodes {figures['nodes_seconds']:6.1f} s"
                )
        for label, figures in figures_of.items():
            if figures:
                where = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in figures["slowest"])
                print(f"    {'slowest in the ' + label:<25} {where}")
        if "floor" in result:
            print(f"    {'baseline: bare dbt build':<25} {result['floor']['seconds']:7.1f} s")
        if "floor" in result and "cycle" in result:
            print(f"    cycle / baseline {result['cycle']['seconds'] / result['floor']['seconds']:.2f}")
    cycles = [result for result in results if "cycle" in result]
    if len(cycles) > 1:
        first, last = cycles[0], cycles[-1]
        growth = last["cycle"]["seconds"] / first["cycle"]["seconds"]
        nodes = last["cycle"]["nodes_seconds"] / first["cycle"]["nodes_seconds"]
        print(
            f"cycle at {last['days']} days / cycle at {first['days']} days: {growth:.2f}"
            f" (its nodes: {nodes:.2f})"
        )


if __name__ == "__main__":
    main()
