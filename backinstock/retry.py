"""When to try again, shared by every client that retries (Shopify reads, provider sends).

Exponential backoff with full jitter spreads a burst of retries over the window; a server's own hint
(`Retry-After` as seconds or an HTTP date) is read against an explicit `now`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

from backinstock.clock import utc

MAX_EXPONENT = 62  # 2**62 seconds is already far past any cap; beyond it floats overflow


def full_jitter(
    exponent: int, *, base_seconds: float, cap_seconds: float, draw: Callable[[], float] = random.random
) -> float:
    """A random wait in [0, min(cap, base * 2**exponent)]."""
    ceiling = min(cap_seconds, base_seconds * 2 ** min(max(exponent, 0), MAX_EXPONENT))
    return draw() * ceiling


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds from now, in either form the header takes; None when absent or unreadable.

    Non-finite numbers (`inf`, `nan`, `1e999`) are unreadable: a wait must end. Callers cap what they get.
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        return max((utc(parsedate_to_datetime(value)) - now).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None
