from datetime import UTC, datetime, timedelta

from orchestration.defs.shopify.sync import OVERLAP, advance_watermark, full_read_due, read_from

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_first_read_is_full_and_later_reads_overlap():
    assert read_from(None) is None
    assert read_from(T0) == T0 - OVERLAP


def test_watermark_takes_newest_row_seen():
    seen = [T0 - timedelta(hours=2), T0 - timedelta(minutes=3), T0 - timedelta(hours=1)]
    assert advance_watermark(None, seen, T0) == T0 - timedelta(minutes=3)


def test_watermark_never_passes_the_sync_start():
    """A row stamped after the sync began (clock skew, a write during the read) must be read again."""
    assert advance_watermark(None, [T0 + timedelta(minutes=1)], T0) == T0


def test_watermark_never_moves_backwards_and_survives_an_empty_read():
    previous = T0 - timedelta(minutes=10)
    assert advance_watermark(previous, [], T0) == previous
    assert advance_watermark(previous, [T0 - timedelta(hours=5)], T0) == previous


def test_a_full_inventory_read_is_due_first_and_then_every_period():
    every = timedelta(hours=24)
    assert full_read_due(None, T0, every)
    assert not full_read_due(T0 - timedelta(hours=23, minutes=59), T0, every)
    assert full_read_due(T0 - every, T0, every)
