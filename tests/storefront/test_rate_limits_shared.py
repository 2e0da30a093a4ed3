"""Rate limits hold across storefront processes: their state is one table every process maps
(storefront.ratelimit), so `--workers N` does not multiply them by N."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import httpx
import pytest
from seed_rows import NOW, SHOP, variant_row
from sf_helpers import stored_rows

from backinstock.settings import RateLimit
from backinstock.store.catalog import upsert_variants
from storefront.errors import Refused
from storefront.ratelimit import RateLimiter, reset

PER_IP = RateLimit(count=50, seconds=3600)


def _signups_passed(path: str, tries: int, out) -> None:
    limiter = RateLimiter(Path(path))
    passed = 0
    for _ in range(tries):
        try:
            limiter.check([("signups per IP", "198.51.100.7", PER_IP)], NOW.timestamp())
            passed += 1
        except Refused:
            pass
    out.put(passed)


def test_two_processes_share_one_limit(tmp_path):
    path = tmp_path / "rate_limits"
    reset(path)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [context.Process(target=_signups_passed, args=(str(path), 100, out)) for _ in range(2)]
    for process in processes:
        process.start()
    passed = [out.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    assert sum(passed) == PER_IP.count  # per-process state would have let 100 through


def test_a_full_bucket_forgets_the_limit_that_refills_first(tmp_path):
    path = tmp_path / "rate_limits"
    reset(path, buckets=1)  # 8 slots in all
    limiter = RateLimiter(path)
    hourly, now = RateLimit(count=1, seconds=3600), NOW.timestamp()
    for n in range(8):  # every slot busy: key n refills at now + 3600 + n
        limiter.check([("per IP", f"10.0.0.{n}", hourly)], now + n)
    limiter.check([("per IP", "10.0.0.8", hourly)], now + 8)  # takes the slot of 10.0.0.0 (fails open)
    limiter.check([("per IP", "10.0.0.0", hourly)], now + 9)  # forgotten, so it passes again
    with pytest.raises(Refused):
        limiter.check([("per IP", "10.0.0.7", hourly)], now + 9)  # still remembered
    limiter.check([("per IP", "10.0.0.7", hourly)], now + 3607)  # refilled: a slot free to take again
    limiter.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_per_ip_limit_holds_across_two_storefront_workers(storefront_processes, store_engine):
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1)], NOW)
    with storefront_processes(workers=2) as running:
        url = str(running.client.base_url)
        statuses = [
            httpx.post(  # a new connection each time, so both workers take some
                f"{url}/api/subscriptions",
                json={"shop": SHOP, "variant_id": 1, "email": f"s{n}@example.com"},
                headers={"Connection": "close"},
            ).status_code
            for n in range(30)
        ]
    assert statuses.count(202) == 10 and statuses.count(429) == 20  # 10 a minute per IP, in all
    assert stored_rows(store_engine)["subscriptions"] == 10
