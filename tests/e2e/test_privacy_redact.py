"""A customer's redaction end to end: the person disappears from the operational store at once, and from the
warehouse and the published marts after the next cycle, while the KPI totals stay exactly as they were."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from backinstock.settings import load_settings
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import metadata, subscriptions
from orchestration.demo import DEMO_SHOP

pytestmark = pytest.mark.e2e


def store_mentions(url: str, needles: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    engine = create_store_engine(url)
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            texts = [c for c in table.c if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
            for needle in needles:
                condition = sa.or_(*(sa.func.lower(sa.cast(c, sa.Text)).contains(needle) for c in texts))
                count = connection.execute(
                    sa.select(sa.func.count()).select_from(table).where(condition)
                ).scalar()
                if texts and count:
                    found[f"{table.name}:{needle}"] = count
    engine.dispose()
    return found


def warehouse_mentions(path: Path, needles: list[str]) -> dict[str, int]:
    """Every table and view of the warehouse, every text column, searched for each needle."""
    found: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as warehouse:
        columns = warehouse.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON')"
            " AND table_schema NOT IN ('information_schema', 'pg_catalog')"
        ).fetchall()
        for schema, table, column in columns:
            for needle in needles:
                count = warehouse.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE lower("{column}") LIKE ?',
                    [f"%{needle}%"],
                ).fetchone()[0]
                if count:
                    found[f"{schema}.{table}.{column}:{needle}"] = count
    return found


def marts_mentions(folder: Path, needles: list[str]) -> list[str]:
    found = []
    for parquet in sorted(folder.glob("*.parquet")):
        text = pd.read_parquet(parquet).astype(str).to_csv().lower()
        found += [f"{parquet.name}:{needle}" for needle in needles if needle in text]
    return found


def test_a_redacted_customer_disappears_from_store_warehouse_and_marts_and_kpis_stay(finished_world):
    world, *_ = finished_world
    data_dir, plan = world.data_dir, world.plan
    marts = data_dir / "marts"
    store_url = f"sqlite:///{data_dir / 'backinstock.db'}"
    kpis_before = pd.read_parquet(marts / "kpi_summary.parquet")
    daily_before = pd.read_parquet(marts / "kpi_daily.parquet")

    # the person: a subscriber whose order was credited to an alert through their contact
    credited = pd.read_parquet(marts / "notification_attributions.parquet")
    assert len(credited), "the small store should attribute orders"
    by_contact = credited[credited["matched_by"] == "contact"]
    subscription_id = int((by_contact if len(by_contact) else credited)["subscription_id"].iloc[0])
    engine = create_store_engine(store_url)
    with engine.connect() as connection:
        email = connection.execute(
            sa.select(subscriptions.c.contact).where(subscriptions.c.id == subscription_id)
        ).scalar_one()
    engine.dispose()
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as warehouse:
        orders = warehouse.execute(
            "SELECT DISTINCT order_id, phone FROM raw_shopify.orders WHERE lower(email) = ?", [email]
        ).fetchall()
    assert orders and warehouse_mentions(data_dir / "warehouse.duckdb", [email])
    phone = next((phone for _order, phone in orders if phone), None)
    needles = [email] + ([re.sub(r"[^0-9]", "", phone)] if phone else [])

    settings = load_settings(world.config_file)
    secret = settings.shop(DEMO_SHOP).webhook_secret.get_secret_value()
    body = json.dumps(
        {
            "shop_domain": DEMO_SHOP,
            "customer": {"id": 191167, "email": email.upper(), "phone": phone},
            "orders_to_redact": [int(order.rsplit("/", 1)[1]) for order, _phone in orders],
        }
    ).encode()
    answer = world.http.post(
        f"{world.storefront_url}/webhooks/shopify",
        content=body,
        headers={
            "X-Shopify-Topic": "customers/redact",
            "X-Shopify-Hmac-Sha256": base64.b64encode(
                hmac.new(secret.encode(), body, hashlib.sha256).digest()
            ).decode(),
            "X-Shopify-Shop-Domain": DEMO_SHOP,
            "X-Shopify-Webhook-Id": "redact-e2e-1",
            "X-Shopify-API-Version": "2026-10",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 200, answer.text
    assert store_mentions(store_url, [email]) == {}  # the store at once
    assert marts_mentions(marts, [email])  # the marts only after the next cycle

    world.cycle(plan.finish)

    assert warehouse_mentions(data_dir / "warehouse.duckdb", needles) == {}
    assert marts_mentions(marts, needles) == []
    assert store_mentions(store_url, needles) == {}
    pd.testing.assert_frame_equal(pd.read_parquet(marts / "kpi_summary.parquet"), kpis_before)
    pd.testing.assert_frame_equal(pd.read_parquet(marts / "kpi_daily.parquet"), daily_before)
