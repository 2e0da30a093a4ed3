"""Rate limits per client IP, per contact and per shop, and who the client is behind a proxy.

Each limit is a GCRA (generic cell rate algorithm) per key: at most `count` requests in any `seconds`,
refilled evenly, so a burst of `count` passes and then one every `seconds / count`. A refused request is
told how long to wait (429 + Retry-After). Time comes from the request's clock, so simulated shoppers are
limited in simulated time.

The state is shared by every storefront process of a deployment (`python -m storefront --workers N`), so
the limits hold whatever the number of processes: it lives in a file mapped into memory
(`data_dir/rate_limits`), emptied when the storefront starts. A check holds the file's lock (`flock`, and a
lock for this process's threads) while it reads and writes its keys' slots. The table has a fixed size:
a key is hashed to a bucket of SLOTS_PER_BUCKET slots and takes a free or fully refilled slot there, or
else the one that refills first (bounded memory; under a flood of distinct keys the least pressed limits
are forgotten first, failing open).
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import math
import mmap
import os
import struct
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from fastapi import Request

from backinstock.settings import RateLimit
from storefront.errors import refused

BUCKETS = 32_768
SLOTS_PER_BUCKET = 8  # 262,144 keys, 4 MiB
SLOT = struct.Struct("<Qd")  # a key's 64-bit hash (0: free), its theoretical arrival time (epoch seconds)
FILE_NAME = "rate_limits"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def limits_file(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def reset(path: Path, buckets: int = BUCKETS) -> None:
    """An empty table at `path` (replacing any): the storefront's start, before its processes open it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as table:
        table.truncate(buckets * SLOTS_PER_BUCKET * SLOT.size)
    os.replace(partial, path)


class RateLimiter:
    def __init__(self, path: Path) -> None:
        if not path.exists():
            reset(path)
        self._descriptor = os.open(path, os.O_RDWR)
        self._table = mmap.mmap(self._descriptor, 0)
        self._buckets = len(self._table) // (SLOTS_PER_BUCKET * SLOT.size)
        self._threads = threading.Lock()

    def close(self) -> None:
        self._table.close()
        os.close(self._descriptor)

    def _slot(self, key: int, now: float) -> tuple[int, float | None]:
        """Where `key` is kept and its arrival time, or the slot it may take (and None)."""
        first = (key % self._buckets) * SLOTS_PER_BUCKET
        free, free_arrival = first, math.inf
        for slot in range(first, first + SLOTS_PER_BUCKET):
            held, arrival = SLOT.unpack_from(self._table, slot * SLOT.size)
            if held == key:
                return slot, arrival
            if held == 0 or arrival <= now:
                arrival = -math.inf  # free, or refilled: nothing is forgotten by taking it
            if arrival < free_arrival:
                free, free_arrival = slot, arrival
        return free, None

    def _wait_seconds(self, name: str, key: str, limit: RateLimit, now: float) -> float:
        hashed = int.from_bytes(hashlib.blake2b(f"{name}\0{key}".encode(), digest_size=8).digest()) or 1
        slot, stored = self._slot(hashed, now)
        arrival = max(now if stored is None else stored, now) + limit.seconds / limit.count
        if arrival - now > limit.seconds:
            return arrival - now - limit.seconds
        SLOT.pack_into(self._table, slot * SLOT.size, hashed, arrival)
        return 0.0

    def check(self, checks: Iterable[tuple[str, str, RateLimit]], now: float) -> None:
        """Count the request under every (name, key, limit) in turn; the first that refuses answers 429
        (and the request is not counted under it or the ones after it)."""
        with self._threads:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            try:
                refusal = next(
                    (
                        (name, wait)
                        for name, key, limit in checks
                        if (wait := self._wait_seconds(name, key, limit, now)) > 0
                    ),
                    None,
                )
            finally:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        if refusal is not None:
            name, wait = refusal
            raise refused(
                429, None, f"too many requests ({name}); try again later", Retry_After=str(math.ceil(wait))
            )


@lru_cache(maxsize=16)
def parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values)


def client_ip(request: Request, trusted_proxies: Iterable[str]) -> str:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
    X-Forwarded-For that is not a trusted proxy itself. Unreadable entries end the walk."""
    trusted = parse_networks(tuple(trusted_proxies))
    peer = request.client.host if request.client else ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        if not _valid_ip(hop):
            break
        client = hop
        if not _within(hop, trusted):
            break
    return client


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
