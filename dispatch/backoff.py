"""When to try a job again: exponential backoff with full jitter, never sooner than the provider asked."""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_EXPONENT = 62


def retry_delay(
    failures: int,
    *,
    base_seconds: float,
    cap_seconds: float,
    hint_seconds: float | None = None,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the `failures`-th retryable answer: `random(0, min(cap, base * 2**(n-1)))`,
    or the provider's hint when that is larger. Jitter spreads a burst of retries over the window."""
    ceiling = min(cap_seconds, base_seconds * 2 ** min(max(failures - 1, 0), MAX_EXPONENT))
    return max(draw() * ceiling, hint_seconds or 0.0)
