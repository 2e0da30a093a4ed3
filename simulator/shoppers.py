"""Shoppers: who they are, how they read a back-in-stock email, and what they do about it.

Pure functions over a seeded random stream; the world plays the resulting plan over HTTP. A reaction is
drawn from a stream of its own (seed, job, recipient), so when the product sends a message does not change
what the recipient will do with it, only when.
"""

from __future__ import annotations

import html
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from simulator.instants import next_whole_second

ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
ANGLED_URL = re.compile(r"<(https?://[^>]+)>")
TEXT_URL = re.compile(r"https?://[^\s<>\"']+")


SHARED_NAT_EVERY = 25  # one shopper in 25 browses from behind a carrier NAT, sharing one address


@dataclass(frozen=True)
class Shopper:
    number: int
    client_id: str  # the web pixel's stable browser id

    @property
    def email(self) -> str:
        return f"shopper-{self.number:04d}@example.com"

    @property
    def ip(self) -> str:
        """Where the shopper browses from (RFC 2544 benchmarking addresses); a few share a NAT address."""
        if self.number % SHARED_NAT_EVERY == 0:
            return "198.19.0.1"
        return f"198.18.{self.number // 250}.{self.number % 250 + 1}"


def make_shoppers(count: int, rng: random.Random) -> list[Shopper]:
    return [
        Shopper(number, str(uuid.UUID(int=rng.getrandbits(128), version=4))) for number in range(1, count + 1)
    ]


def rng_for(seed: int, *parts: Any) -> random.Random:
    """An independent, reproducible random stream for one decision of the scenario."""
    return random.Random("/".join(str(part) for part in (seed, *parts)))


@dataclass(frozen=True)
class MessageLinks:
    open_pixel: str | None
    click: str | None
    unsubscribe: str | None


def links_in(message: dict[str, Any]) -> MessageLinks:
    """The open pixel (`/o/….gif`) and first click link (`/c/…`) in the HTML, and the List-Unsubscribe URL."""
    markup = next(
        (
            block.get("value", "")
            for block in message.get("content") or []
            if block.get("type") == "text/html"
        ),
        "",
    )
    urls = [html.unescape(url) for url in ATTRIBUTE_URL.findall(markup)]
    header = next(
        (
            value
            for name, value in (message.get("headers") or {}).items()
            if name.lower() == "list-unsubscribe"
        ),
        "",
    )
    unsubscribe = ANGLED_URL.search(str(header))
    return MessageLinks(
        open_pixel=next(
            (url for url in urls if _path(url).startswith("/o/") and _path(url).endswith(".gif")), None
        ),
        click=next((url for url in urls if _path(url).startswith("/c/")), None),
        unsubscribe=unsubscribe.group(1) if unsubscribe else None,
    )


def _path(url: str) -> str:
    return urlsplit(url).path


def confirm_link_in(message: dict[str, Any]) -> str | None:
    """The double opt-in link (`/confirm/…`) in a confirmation email's HTML or, failing that, its text."""
    for block in message.get("content") or []:
        value = block.get("value", "") if isinstance(block, dict) else ""
        urls = [html.unescape(url) for url in ATTRIBUTE_URL.findall(value)] + TEXT_URL.findall(value)
        found = next((url for url in urls if _path(url).startswith("/confirm/")), None)
        if found:
            return found
    return None


def confirm_delay(rng: random.Random) -> timedelta | None:
    """How long after the confirmation arrives the shopper clicks it: most within the hour, some the next
    day, a few only after days (past the link's 72 hours), and some never."""
    roll = rng.random()
    if roll < 0.12:
        return None
    if roll < 0.15:
        return timedelta(seconds=int(rng.uniform(80, 120) * 3600))
    if roll < 0.35:
        return timedelta(seconds=int(rng.uniform(2, 30) * 3600))
    return timedelta(seconds=int(min(rng.expovariate(1 / 900), 7200)) + 5)


@dataclass(frozen=True)
class Reaction:
    """When the recipient opens, clicks, buys and unsubscribes; None for what they never do."""

    open_at: datetime | None
    click_at: datetime | None
    buy_at: datetime | None
    unsubscribe_at: datetime | None


def react_to_alert(rng: random.Random, received_at: datetime) -> Reaction:
    """Most open within hours, over half of those click, most clickers try to buy; a few opt out instead."""
    earliest = next_whole_second(received_at)
    open_at = click_at = buy_at = unsubscribe_at = None
    if rng.random() < 0.7:
        open_at = earliest + timedelta(seconds=int(min(rng.expovariate(1 / 2400), 36_000)))
    if open_at is not None and rng.random() < 0.06:
        unsubscribe_at = open_at + timedelta(seconds=rng.randint(10, 90))
    elif open_at is not None and rng.random() < 0.6:
        click_at = open_at + timedelta(seconds=rng.randint(5, 300))
        if rng.random() < 0.7:
            buy_at = click_at + timedelta(seconds=rng.randint(60, 1800))
    return Reaction(open_at, click_at, buy_at, unsubscribe_at)
