"""The store threads: results and exceptions reach the awaiting request, work is taken first come first
served on the store's own threads, and closing finishes what waits."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from own_loop import run_on_own_loop

from storefront.store_threads import StoreThreads, thread_count


def test_how_many_threads() -> None:
    assert thread_count(0, "sqlite") == 1
    assert thread_count(0, "postgresql") == 4
    assert thread_count(3, "sqlite") == 3


def test_results_and_exceptions_reach_the_caller_in_the_order_asked() -> None:
    threads = StoreThreads(1)
    ran: list[int] = []

    def work(number: int) -> int:
        if number == 3:
            raise ValueError("three")
        ran.append(number)
        time.sleep(0.01)
        return number * 10

    async def main() -> list[object]:
        return await asyncio.gather(*(threads.run(work, n) for n in range(6)), return_exceptions=True)

    try:
        answers = run_on_own_loop(main())
    finally:
        threads.close()
    assert answers[:3] == [0, 10, 20] and answers[4:] == [40, 50]
    assert isinstance(answers[3], ValueError)
    assert ran == [0, 1, 2, 4, 5]  # one thread: first come, first served


def test_work_runs_on_the_store_threads_only() -> None:
    threads = StoreThreads(2, name="store")
    names: set[str] = set()
    gate = threading.Event()

    def work(_number: int) -> None:
        names.add(threading.current_thread().name)
        gate.wait(5)

    async def main() -> None:
        pending = [asyncio.ensure_future(threads.run(work, n)) for n in range(20)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(*pending)

    try:
        run_on_own_loop(main())
    finally:
        threads.close()
    assert names <= {"store-0", "store-1"} and names


def test_closing_finishes_what_was_queued_and_refuses_more() -> None:
    threads = StoreThreads(1)
    done: list[int] = []

    async def main() -> None:
        pending = [asyncio.ensure_future(threads.run(done.append, n)) for n in range(5)]
        await asyncio.sleep(0)  # queued
        await asyncio.to_thread(threads.close)
        await asyncio.gather(*pending)
        with pytest.raises(RuntimeError):
            await threads.run(done.append, 99)

    run_on_own_loop(main())
    assert done == [0, 1, 2, 3, 4]
