"""Read a provider's answer: which class it belongs to, whether it is about the address, when to try again.

Classes (reference/delivery.md): `accepted`; `transient` and `rate_limited` retry with backoff;
`permanent` never retries this recipient; `account` stops the lane until a person acts; `unknown` retries,
bounded by max attempts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from backinstock.retry import retry_after_seconds

ACCEPTED = "accepted"
TRANSIENT = "transient"
RATE_LIMITED = "rate_limited"
PERMANENT = "permanent"
ACCOUNT = "account"
UNKNOWN = "unknown"

_SENDGRID = {
    200: ACCEPTED,
    202: ACCEPTED,
    429: RATE_LIMITED,
    500: TRANSIENT,
    502: TRANSIENT,
    503: TRANSIENT,
    504: TRANSIENT,
    400: PERMANENT,
    413: PERMANENT,
    401: ACCOUNT,
    403: ACCOUNT,
}


def classify_sendgrid(status_code: int) -> str:
    """SendGrid v3 mail/send status -> class; anything undocumented is `unknown` (retried, bounded)."""
    return _SENDGRID.get(status_code, UNKNOWN)


def sendgrid_rejects_recipient(body: str) -> bool:
    """True when a 400's `errors` name the recipient (`personalizations.N.to...`): the address is bad."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(
        str(error.get("field") or "").startswith("personalizations") and ".to" in str(error.get("field"))
        for error in errors
        if isinstance(error, dict)
    )


def _rate_limit_reset(value: str, now: datetime) -> float | None:
    try:
        return max(float(value.strip()) - now.timestamp(), 0.0)
    except ValueError:
        return None


def retry_hint_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the provider asks us to wait (`Retry-After` seconds or HTTP date, `X-RateLimit-Reset` epoch
    seconds), the larger when both are present; None when it gives no usable hint."""
    lowered = {key.lower(): value for key, value in headers.items()}
    hints = [
        hint
        for hint in (
            retry_after_seconds(lowered.get("retry-after"), now),
            _rate_limit_reset(lowered["x-ratelimit-reset"], now) if "x-ratelimit-reset" in lowered else None,
        )
        if hint is not None
    ]
    return max(hints) if hints else None
