"""Instants on the wire: aware UTC datetimes, written ISO-8601 with a Z at whole seconds.

The simulator keeps its own copy of these few lines rather than importing the product's clock module.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant (a trailing Z allowed; naive means UTC) as aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_local(value: datetime, timezone: str) -> str:
    """The instant with the shop's UTC offset, the way Shopify writes webhook timestamps."""
    return value.astimezone(ZoneInfo(timezone)).isoformat()


def next_whole_second(value: datetime) -> datetime:
    """The first whole second strictly after `value`: the earliest a reaction to `value` may be played."""
    return value.replace(microsecond=0) + timedelta(seconds=1)
