"""Honouring a one-click unsubscribe whatever the store is doing: never a 5xx, never lost.

The request is tried against the store for at most `[storefront] unsubscribe_wait_seconds` (waiting for a
store thread, storefront/store_threads.py, counts), a few writers at a time (`unsubscribe_writers`: SQLite
has one writer anyway, and a queue of threads waiting on a lock would only make every request slow),
retrying while the store is busy. When the time is up it is spooled
(`backinstock.unsubscribes.Spool`: appended and fsynced) and the person gets the same answer. While a
request is finding the store busy, the others are spooled at once rather than queueing behind it (a person
waits milliseconds, not seconds, while a long write holds the store). The app applies
the spool every `spool_apply_seconds` and the dispatcher before each claim, so it holds before any send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import sqlalchemy as sa
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from backinstock.unsubscribes import Spool, Unsubscribe, apply, bounded_wait, spool_of
from storefront.errors import describe
from storefront.state import in_store_thread, settings_of, store_of

APPLIED = "applied"
SPOOLED = "spooled"
UNKNOWN = "unknown"  # the shop has no such subscription: nothing to do
RETRY_PAUSE_SECONDS = 0.05
STORE_BUSY = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError)
log = logging.getLogger("storefront.unsubscribing")


def install(app: FastAPI) -> None:
    app.state.spool = spool_of(app.state.settings.data_dir)
    app.state.unsubscribe_writers = asyncio.Semaphore(app.state.settings.storefront.unsubscribe_writers)
    app.state.store_busy_until = 0.0  # monotonic: until then, spool without trying the store


async def honour(request: Request, unsubscribe: Unsubscribe) -> str:
    """Apply the unsubscribe now, or spool it when the store stays busy; APPLIED, SPOOLED or UNKNOWN."""
    state = request.app.state
    engine, writers = store_of(request), state.unsubscribe_writers
    wait = settings_of(request).storefront.unsubscribe_wait_seconds
    deadline = time.monotonic() + wait
    if time.monotonic() < state.store_busy_until:  # another request is finding it busy right now
        deadline = 0.0
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(remaining):  # (a timer, not a task per wait as wait_for makes)
                await writers.acquire()
        except TimeoutError:
            break
        try:
            # The store threads may all be busy with other requests: the wait for one counts too.
            async with asyncio.timeout(deadline - time.monotonic()):
                found = await in_store_thread(request, _apply_by, engine, unsubscribe, deadline)
            state.store_busy_until = 0.0
            return APPLIED if found else UNKNOWN
        except (*STORE_BUSY, TimeoutError) as error:
            state.store_busy_until = max(state.store_busy_until, time.monotonic() + wait)
            log.warning("unsubscribe: store busy (%s), retrying", describe(error))
        finally:
            writers.release()
        await asyncio.sleep(min(RETRY_PAUSE_SECONDS, max(deadline - time.monotonic(), 0)))
    spool: Spool = request.app.state.spool
    await run_in_threadpool(spool.append, unsubscribe)
    log.warning("unsubscribe spooled: the store stayed busy")
    return SPOOLED


def _apply_by(engine: sa.Engine, unsubscribe: Unsubscribe, deadline: float) -> bool:
    """Apply it waiting for the store until `deadline` (monotonic) at most; TimeoutError when the store
    thread took it up too late (the request has been spooled meanwhile: applying twice changes nothing)."""
    seconds = deadline - time.monotonic()
    if seconds <= 0:
        raise TimeoutError("no time left to wait for the store")
    with bounded_wait(engine, seconds) as connection:
        return apply(connection, unsubscribe)


@contextlib.asynccontextmanager
async def applying_spool(app: FastAPI) -> AsyncIterator[None]:
    """While the app runs, apply the spool whenever something is in it and the store lets us."""

    async def loop() -> None:
        spool: Spool = app.state.spool
        while True:
            await asyncio.sleep(app.state.settings.storefront.spool_apply_seconds)
            if spool.pending():
                try:
                    await run_in_threadpool(spool.apply, app.state.engine)
                except STORE_BUSY as error:
                    log.warning("spool not applied yet: store busy (%s)", describe(error))

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
