"""Incremental sync bookkeeping, as pure functions.

Shopify's `updated_at` is the cursor. A read starts a little before the stored watermark (an overlap, so
rows written while the last read ran are not missed; staging deduplicates the re-read), and the new
watermark is the newest `updated_at` seen, never later than the moment the sync started.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

OVERLAP = timedelta(minutes=5)


def read_from(watermark: datetime | None, overlap: timedelta = OVERLAP) -> datetime | None:
    """Where the next incremental read starts; None means a full read."""
    return None if watermark is None else watermark - overlap


def advance_watermark(
    previous: datetime | None, seen: Iterable[datetime], sync_started_at: datetime
) -> datetime | None:
    """The watermark after a read that saw rows updated at `seen`; it never moves backwards."""
    newest = max(seen, default=None)
    if newest is None:
        return previous
    candidate = min(newest, sync_started_at)
    return candidate if previous is None else max(previous, candidate)


def full_read_due(last_full_read: datetime | None, now: datetime, every: timedelta) -> bool:
    """Whether this poll must read every inventory level: never read in full yet, or not for `every`."""
    return last_full_read is None or now - last_full_read >= every
