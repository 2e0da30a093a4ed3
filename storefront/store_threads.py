"""The threads that do the store work of the storefront's busiest requests (signups, one-click unsubscribes).

A request's store work is a few statements and a commit, under a millisecond, but it blocks (SQLite's
lock, PostgreSQL's round trips), so it leaves the event loop. FastAPI's usual hop for synchronous routes
(anyio's thread pool, 40 threads) wakes a sleeping thread for nearly every request, and its threads then
queue on the store's one writer and on the interpreter's lock: under load that hand-off cost more CPU than
the store work itself. Here a few threads (`[storefront] store_threads`; 0: one on SQLite, which has one
writer at a time anyway, four on PostgreSQL) take the work first come first served from one queue: a busy
thread goes straight on to the next request without sleeping, and a sleeping one is woken only when none is
free.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
SQLITE_THREADS = 1
OTHER_THREADS = 4


def thread_count(configured: int, dialect: str) -> int:
    if configured > 0:
        return configured
    return SQLITE_THREADS if dialect == "sqlite" else OTHER_THREADS


class StoreThreads:
    def __init__(self, count: int, name: str = "store") -> None:
        self._queue: deque[tuple[Callable[..., Any], tuple, asyncio.Future, asyncio.AbstractEventLoop]]
        self._queue = deque()
        self._guard = threading.Lock()
        self._work_waiting = threading.Condition(self._guard)
        self._sleeping = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True) for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, function: Callable[..., Result], *arguments: Any) -> Result:
        """`function(*arguments)` on one of the threads; its result or its exception."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._guard:
            if self._closed:
                raise RuntimeError("the store threads are closed")
            self._queue.append((function, arguments, future, loop))
            if self._sleeping:
                self._work_waiting.notify()
        return await future

    def close(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._guard:
            self._closed = True
            self._work_waiting.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._guard:
                while not self._queue:
                    if self._closed:
                        return
                    self._sleeping += 1
                    self._work_waiting.wait()
                    self._sleeping -= 1
                function, arguments, future, loop = self._queue.popleft()
            try:
                result = function(*arguments)
            except BaseException as error:  # handed to the request, which answers it
                loop.call_soon_threadsafe(_fail, future, error)
            else:
                loop.call_soon_threadsafe(_succeed, future, result)


def _succeed(future: asyncio.Future, result: Any) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future, error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)
