"""Pure helpers for when a message may go: quiet hours in the shop's time zone, recipient domains and
their caps, and the slot times of a run of reserved sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(quiet_hours: str | None, timezone: str, now: datetime) -> datetime | None:
    """When the quiet hours `HH:MM-HH:MM` (local to `timezone`, possibly across midnight) end, if `now` is
    inside them; None when sending is allowed now."""
    if not quiet_hours:
        return None
    start_text, end_text = quiet_hours.split("-")
    start, end = _clock_time(start_text), _clock_time(end_text)
    if start == end:
        return None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    moment = local.time().replace(tzinfo=None)
    inside = start <= moment < end if start < end else (moment >= start or moment < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, tzinfo=zone)
    if ends <= local:
        ends = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return ends.astimezone(UTC)


def recipient_domain(contact: str) -> str:
    return contact.rpartition("@")[2].strip().lower()


def domain_cap(lane: Mapping[str, Any], domain: str) -> int | None:
    """Sends per clock minute the lane allows to `domain`: its own cap, else the lane's default."""
    caps = lane.get("domain_caps") or {}
    return caps.get(domain) or lane.get("per_domain_per_minute")


def minute_of(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def slot_times(first_epoch: float, count: int, rate: float) -> list[datetime]:
    return [datetime.fromtimestamp(first_epoch + index / rate, UTC) for index in range(count)]
