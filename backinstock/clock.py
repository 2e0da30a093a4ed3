"""Time is an input. Every decision takes an explicit `now`; these clocks are where it comes from.

`SystemClock` is real time. `FileClock` reads an ISO-8601 instant from a file, so a driver (the demo, a
test) can move simulated time for several processes at once.
All instants are timezone-aware UTC.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant (a trailing Z allowed) as aware UTC."""
    return utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))


def format_instant(value: datetime) -> str:
    """UTC ISO-8601 with a Z, second precision or finer: the form used on every wire and in files."""
    return utc(value).isoformat().replace("+00:00", "Z")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def now(self) -> datetime:
        try:
            return parse_instant(self.path.read_text())
        except FileNotFoundError as missing:
            raise RuntimeError(f"clock file {self.path} does not exist: nobody has set the time") from missing

    def set(self, now: datetime) -> None:
        """Write atomically, so a reader never sees half an instant."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(format_instant(now))
        os.replace(partial, self.path)
