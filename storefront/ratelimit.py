"""Rate limits per client IP, per contact and per shop, and who the client is behind a proxy.

Each limit is a GCRA (generic cell rate algorithm) per key: at most `count` requests in any `seconds`,
refilled evenly, so a burst of `count` passes and then one every `seconds / count`. A refused request is
told how long to wait (429 + Retry-After). State lives in this process's memory, bounded in keys; with
several storefront processes each enforces its own share (divide the limits by the number of processes).
Time comes from the request's clock, so simulated shoppers are limited in simulated time.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections.abc import Iterable
from functools import lru_cache

from fastapi import Request

from backinstock.settings import RateLimit
from storefront.errors import refused

MAX_KEYS = 200_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimiter:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._theoretical_arrival: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.max_keys = max_keys

    def wait_seconds(self, name: str, key: str, limit: RateLimit, now: float) -> float:
        """Count one request against `key` under the limit called `name`; 0 when it may pass, else how many
        seconds until it would (and it is not counted)."""
        interval = limit.seconds / limit.count
        with self._lock:
            arrival = max(self._theoretical_arrival.get((name, key), now), now) + interval
            if arrival - now > limit.seconds:
                return arrival - now - limit.seconds
            if len(self._theoretical_arrival) >= self.max_keys:
                self._forget_idle(now)
            self._theoretical_arrival[(name, key)] = arrival
            return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop keys whose limit has fully refilled; if every key is busy, start over (fail open, bounded)."""
        idle = [key for key, arrival in self._theoretical_arrival.items() if arrival <= now]
        for key in idle:
            del self._theoretical_arrival[key]
        if len(self._theoretical_arrival) >= self.max_keys:
            self._theoretical_arrival.clear()

    def check(self, checks: Iterable[tuple[str, str, RateLimit]], now: float) -> None:
        """Count the request under every (name, key, limit) in turn; the first that refuses answers 429."""
        for name, key, limit in checks:
            wait = self.wait_seconds(name, key, limit, now)
            if wait > 0:
                raise refused(
                    429,
                    None,
                    f"too many requests ({name}); try again later",
                    Retry_After=str(math.ceil(wait)),
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
