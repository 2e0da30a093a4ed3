"""The queue monitor's counts, kept for a few seconds and refreshed in the background.

Counting jobs per shop, channel, lane and state reads every job (one covering index, but a million entries
take a second or more), which a page that reloads itself every 15 seconds cannot pay on each view. The
latest count is served at once; when it is older than `max_age` a background thread counts again and the
next view gets the new one (the page says when it was counted). The first view, and the first after an
action taken from this console (`invalidate`), count before answering, so an operator sees what they did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from backinstock.store.queue import QueueState

MAX_AGE_SECONDS = 10.0


@dataclass
class _Entry:
    state: QueueState
    counted_at: float  # time.monotonic()


class QueueSnapshots:
    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self.max_age = max_age
        self._entries: dict[str | None, _Entry] = {}
        self._refreshing: set[str | None] = set()
        self._lock = threading.Lock()

    def get(self, shop: str | None, count: Callable[[], QueueState]) -> QueueState:
        """The latest count for `shop` (None: all shops); `count` makes a new one."""
        with self._lock:
            entry = self._entries.get(shop)
            stale = entry is not None and time.monotonic() - entry.counted_at > self.max_age
            start = stale and shop not in self._refreshing
            if start:
                self._refreshing.add(shop)
        if entry is None:
            return self._count(shop, count)
        if start:
            threading.Thread(target=self._refresh, args=(shop, count), daemon=True).start()
        return entry.state

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()

    def _count(self, shop: str | None, count: Callable[[], QueueState]) -> QueueState:
        state = count()
        with self._lock:
            self._entries[shop] = _Entry(state, time.monotonic())
        return state

    def _refresh(self, shop: str | None, count: Callable[[], QueueState]) -> None:
        try:
            self._count(shop, count)
        finally:
            with self._lock:
                self._refreshing.discard(shop)
