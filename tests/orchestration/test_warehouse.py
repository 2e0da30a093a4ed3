from datetime import UTC, datetime, timedelta

import pytest

from backinstock.store import tables
from orchestration.warehouse import (
    append_rows,
    connect,
    ensure_raw_schema,
    read_watermark,
    replace_copy,
    transaction,
    write_watermark,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path):
    with connect(tmp_path / "warehouse.duckdb") as connection:
        ensure_raw_schema(connection)
        yield connection


def test_appended_instants_are_stored_as_naive_utc(warehouse):
    berlin_noon = datetime.fromisoformat("2026-11-02T13:00:00+01:00")
    appended = append_rows(
        warehouse,
        "locations",
        [{"shop": "s", "location_id": "gid://shopify/Location/1", "name": "A", "is_active": True,
          "fulfills_online_orders": True}],
        berlin_noon,
    )  # fmt: skip
    assert appended == 1
    assert warehouse.execute("SELECT _ingested_at FROM raw_shopify.locations").fetchone()[0] == datetime(
        2026, 11, 2, 12, 0
    )


def test_nothing_to_append_writes_nothing(warehouse):
    assert append_rows(warehouse, "orders", [], NOW) == 0


def test_watermark_round_trip_and_update(warehouse):
    assert read_watermark(warehouse, "s", "orders") is None
    write_watermark(warehouse, "s", "orders", NOW - timedelta(hours=1), NOW)
    write_watermark(warehouse, "s", "orders", NOW, NOW)
    assert read_watermark(warehouse, "s", "orders") == NOW


def test_failed_transaction_leaves_the_previous_copy(warehouse):
    row = {column.name: None for column in tables.suppressions.columns}
    row.update(
        id=1, shop="s", channel="email", contact="a@example.com", reason="unsubscribed", created_at=NOW
    )
    with transaction(warehouse):
        replace_copy(warehouse, tables.suppressions, [row])
    with pytest.raises(RuntimeError), transaction(warehouse):
        replace_copy(warehouse, tables.suppressions, [])
        raise RuntimeError("the run failed half way")
    assert warehouse.execute("SELECT contact FROM raw_app.suppressions").fetchall() == [("a@example.com",)]
