"""When to try a job again: exponential backoff with full jitter, never sooner than the provider asked."""

from __future__ import annotations

import random
from collections.abc import Callable

from backinstock.retry import full_jitter


def retry_delay(
    failures: int,
    *,
    base_seconds: float,
    cap_seconds: float,
    hint_seconds: float | None = None,
    draw: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the `failures`-th retryable answer: full jitter over
    `min(cap, base * 2**(failures - 1))`, or the provider's hint when that is larger."""
    jitter = full_jitter(failures - 1, base_seconds=base_seconds, cap_seconds=cap_seconds, draw=draw)
    return max(jitter, hint_seconds or 0.0)
