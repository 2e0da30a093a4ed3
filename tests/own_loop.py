"""Run a coroutine on an event loop of its own, on a thread of its own: the session's Playwright (sync API)
keeps an event loop running in the test thread once a browser test has run on the same worker, and
`asyncio.run` refuses to start under it (dispatch.worker.run does the same in production)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()
