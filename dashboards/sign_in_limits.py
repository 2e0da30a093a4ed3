"""Failed sign-ins, counted per user name and per client address: after `MAX_FAILURES` within `WINDOW`,
further attempts are refused (429 with Retry-After) until the oldest failure leaves the window, so
passwords cannot be guessed at the speed of argon2. In this process's memory, bounded in keys; time comes
from the request's clock."""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
MAX_KEYS = 100_000


class FailedSignIns:
    def __init__(self) -> None:
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def wait(self, keys: list[str], now: datetime) -> timedelta | None:
        """How long these keys must wait before trying again, or None when they may try now."""
        longest = None
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= MAX_FAILURES:
                    wait = failures[0] + WINDOW - now
                    longest = wait if longest is None else max(longest, wait)
        return longest

    def failed(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._failures.clear()  # bounded: forget everything rather than grow without end
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys[:1]:  # the name's count ends; the address's stays (it may guess other names)
                self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - WINDOW:
            failures.popleft()
        return failures
