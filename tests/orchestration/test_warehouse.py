from datetime import UTC, datetime, timedelta

import pytest

from backinstock.store import tables
from orchestration.warehouse import (
    append_rows,
    connect,
    copy_store_rows,
    ensure_raw_schema,
    read_watermark,
    replace_copy,
    store_rows_to_copy,
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


def _webhook(number: int, received_at: datetime) -> dict:
    return {
        "shop": "s",
        "topic": "inventory_levels/update",
        "webhook_id": f"w{number}",
        "event_id": f"e{number}",
        "api_version": "2026-07",
        "triggered_at": received_at,
        "received_at": received_at,
        "payload": "{}",
    }


def test_append_only_logs_keep_their_rows_and_say_when_each_became_known(warehouse, store_engine):
    """The inbox copy appends: rows the store has since purged stay, nothing is copied twice, and a row whose
    transaction committed after the copy that passed its instant is known from the copy that saw it."""
    inbox = tables.webhook_inbox
    with store_engine.begin() as store:
        for number, minutes in ((1, 1), (2, 2), (3, 3)):
            store.execute(
                inbox.insert().values(id=number, **_webhook(number, NOW + timedelta(minutes=minutes)))
            )
    first_copy, second_copy = NOW + timedelta(minutes=5), NOW + timedelta(minutes=20)
    with store_engine.connect() as store:
        rows = store_rows_to_copy(store, warehouse, inbox)
    visible = [row for row in rows if row["id"] != 2]  # id 2 had not committed when the copy read
    with transaction(warehouse):
        assert copy_store_rows(warehouse, inbox, visible, first_copy) == 2
    with store_engine.begin() as store:
        store.execute(inbox.delete().where(inbox.c.id == 1))  # retention purged it
        store.execute(inbox.insert().values(id=4, **_webhook(4, NOW + timedelta(minutes=12))))
    with store_engine.connect() as store:
        rows = store_rows_to_copy(store, warehouse, inbox)
    with transaction(warehouse):
        assert copy_store_rows(warehouse, inbox, rows, second_copy) == 2
        assert copy_store_rows(warehouse, inbox, rows, second_copy) == 0
    copied = warehouse.execute(
        "SELECT id, received_at, _copied_at, _known_at FROM raw_app.webhook_inbox ORDER BY id"
    ).fetchall()
    naive = [moment.replace(tzinfo=None) for moment in (first_copy, second_copy)]
    assert copied == [
        (1, datetime(2026, 11, 2, 12, 1), naive[0], datetime(2026, 11, 2, 12, 1)),
        (2, datetime(2026, 11, 2, 12, 2), naive[1], naive[1]),  # late: known when it was copied
        (3, datetime(2026, 11, 2, 12, 3), naive[0], datetime(2026, 11, 2, 12, 3)),
        (4, datetime(2026, 11, 2, 12, 12), naive[1], datetime(2026, 11, 2, 12, 12)),
    ]
