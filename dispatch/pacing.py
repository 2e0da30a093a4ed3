"""Pure helpers for when a message may go: quiet hours in the shop's time zone, recipient domains and
their caps, the slot times of a run of reserved sends, and when one more request stays within the rate
wherever the provider's windows fall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def reach_opens(
    answered: Sequence[datetime], in_flight: int, allowed: int, window: timedelta, now: datetime
) -> datetime | None:
    """When one more request may go without any `window` at the provider holding more than `allowed`
    requests, however late each one reached it. A request reaches the provider somewhere between its
    launch and its answer, so the next one may share a window with every request still in flight and
    every one answered within the last `window` (`answered`: answer times, oldest first). Returns `now`
    when it may go now, else when enough answers have aged out, or None when only an answer can make
    room (`allowed` requests in flight)."""
    recent = [at for at in answered if at > now - window]
    excess = in_flight + len(recent) + 1 - allowed
    if excess <= 0:
        return now
    if excess > len(recent):
        return None
    return recent[excess - 1] + window
