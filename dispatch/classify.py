"""Read a provider's answer: its class (reference/delivery.md), whether it is about the address, when to
try again. One table per provider, keyed by what that provider answers with (an HTTP status, an error code,
an exception name, an SMTP reply code); anything a table does not know is `unknown` (retried, bounded).

Classes: `accepted`; `transient` and `rate_limited` retry with backoff (a rate limit also pauses the lane
until the hinted time); `permanent` never retries this recipient (and suppresses the address when the
answer is about it); `account` stops the lane until a person acts; `unknown` follows the lane's policy for
unknown outcomes when the request may have been taken, else is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from backinstock.retry import retry_after_seconds

ACCEPTED = "accepted"
TRANSIENT = "transient"
RATE_LIMITED = "rate_limited"
PERMANENT = "permanent"
ACCOUNT = "account"
UNKNOWN = "unknown"
RETRYABLE = (TRANSIENT, RATE_LIMITED, UNKNOWN)

INVALID_ADDRESS = "invalid_address"
UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class Verdict:
    """A class, and for a permanent answer about the address, the suppression reason to record."""

    outcome: str
    suppress: str | None = None


A, T, R, P, X = (Verdict(c) for c in (ACCEPTED, TRANSIENT, RATE_LIMITED, PERMANENT, ACCOUNT))
BAD_ADDRESS = Verdict(PERMANENT, INVALID_ADDRESS)

SENDGRID_STATUS = {
    200: A, 202: A,
    429: R,
    500: T, 502: T, 503: T, 504: T,
    400: P, 413: P,
    401: X, 403: X,
}  # fmt: skip

# Postmark answers with an ErrorCode in the body; the HTTP status is the fallback.
POSTMARK_CODE = {
    0: A,
    10: X,  # bad or missing server token
    300: BAD_ADDRESS,  # invalid email request (the To address)
    406: Verdict(PERMANENT, "inactive_recipient"),  # hard bounce or complaint on Postmark's side
    400: X, 401: X,  # sender signature not found / not confirmed
    405: X,  # not allowed to send (credits)
    412: X,  # account pending approval
    413: X,
    429: R,
}  # fmt: skip
POSTMARK_STATUS = {200: A, 401: X, 422: P, 429: R, 500: T, 503: T}

# Amazon SES v2: the exception name from `x-amzn-ErrorType` (or the body's `__type`).
SES_ERROR = {
    "TooManyRequestsException": R,
    "LimitExceededException": R,  # a daily quota: the lane pauses (see DAILY_QUOTA_PAUSE_SECONDS)
    "ThrottlingException": R,
    "Throttling": R,
    "MessageRejected": P,
    "MailFromDomainNotVerifiedException": P,
    "BadRequestException": P,
    "NotFoundException": X,  # the configuration set or identity does not exist
    "AccountSuspendedException": X,
    "SendingPausedException": X,
    "AccessDeniedException": X,
    "UnrecognizedClientException": X,
    "InvalidSignatureException": X,
    "SignatureDoesNotMatch": X,
    "IncompleteSignature": X,
    "ExpiredTokenException": X,
    "InternalServiceErrorException": T,
    "InternalFailure": T,
    "ServiceUnavailable": T,
}
SES_STATUS = {200: A, 400: P, 403: X, 429: R, 500: T, 503: T}
DAILY_QUOTA_PAUSE_SECONDS = 3600.0  # SES's quota is a rolling 24 hours: look again in an hour

# Resend: the error `name` in the body.
RESEND_ERROR = {
    "validation_error": P,
    "missing_required_field": P,
    "invalid_from_address": X,
    "invalid_idempotency_key": P,
    "invalid_idempotent_request": P,  # the same key with another body: our fault, never resent as is
    "concurrent_idempotent_requests": T,  # the first request with this key is still being processed
    "missing_api_key": X,
    "invalid_api_key": X,
    "restricted_api_key": X,
    "invalid_access": X,
    "rate_limit_exceeded": R,
    "daily_quota_exceeded": R,
    "monthly_quota_exceeded": X,
    "internal_server_error": T,
    "application_error": T,
}
RESEND_STATUS = {200: A, 401: X, 403: X, 409: T, 422: P, 429: R, 500: T, 503: T}

# Twilio: the error `code` in the body.
TWILIO_CODE = {
    20429: R,  # too many requests: never processed, safe to retry
    20003: X,  # authentication
    21608: X,  # trial account: unverified number
    21211: BAD_ADDRESS,  # invalid To
    21610: Verdict(PERMANENT, UNSUBSCRIBED),  # the recipient replied STOP
    21612: P,  # cannot route to this number
    21614: BAD_ADDRESS,  # not SMS-capable
    21635: BAD_ADDRESS,  # landline
}
TWILIO_STATUS = {200: A, 201: A, 400: P, 401: X, 403: X, 429: R, 500: T, 502: T, 503: T}

# SMTP reply codes.
SMTP_CODE = {
    250: A, 251: A,
    421: R,  # service not available, closing channel (typically "too many connections / messages")
    450: T, 451: T, 452: T,
    454: R,  # "Throttling failure" (SES SMTP), TLS not available
    530: X, 534: X, 535: X,  # authentication required / too weak / failed
    550: BAD_ADDRESS, 551: BAD_ADDRESS, 553: BAD_ADDRESS,
    552: P, 554: P,
}  # fmt: skip


def smtp_verdict(code: int) -> Verdict:
    known = SMTP_CODE.get(code)
    if known is not None:
        return known
    if 400 <= code < 500:
        return T
    if 500 <= code < 600:
        return P
    return Verdict(UNKNOWN)


def verdict(table: Mapping[object, Verdict], key: object, fallback: Verdict | None = None) -> Verdict:
    return table.get(key) or fallback or Verdict(UNKNOWN)


def _epoch_reset(value: str, now: datetime) -> float | None:
    try:
        return max(float(value.strip()) - now.timestamp(), 0.0)
    except ValueError:
        return None


def _delta_reset(value: str, now: datetime) -> float | None:
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        return None


def retry_hint_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the provider asks us to wait: `Retry-After` (seconds or HTTP date), `X-RateLimit-Reset`
    (epoch seconds, SendGrid), `RateLimit-Reset` (seconds from now, IETF draft, Resend); the largest
    when several are present, None when none is usable."""
    lowered = {key.lower(): value for key, value in headers.items()}
    hints = [
        retry_after_seconds(lowered.get("retry-after"), now),
        _epoch_reset(lowered["x-ratelimit-reset"], now) if "x-ratelimit-reset" in lowered else None,
        _delta_reset(lowered["ratelimit-reset"], now) if "ratelimit-reset" in lowered else None,
    ]
    usable = [hint for hint in hints if hint is not None]
    return max(usable) if usable else None
