"""A provider account as a provider runs it: its own rate limit (429 with a hint when the bucket is dry),
random faults (rate limits, server errors, answers that come too late), forced answers for one recipient
or a number of calls, latency, an idempotency-key cache where the provider has one, the messages it
accepted, and the events it owes the sender's webhook.

Pure state and decisions; the HTTP and SMTP front ends (one module per provider) speak the wire formats.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# What an account decides for one request.
ACCEPT = "accept"
RATE_LIMIT = "rate_limit"
SERVER_ERROR = "server_error"
FORCED = "forced"


@dataclass
class Faults:
    """How unreliable the account is. Shares are probabilities per request, drawn from a seeded stream."""

    rate_per_second: float | None = None  # the account's own limit (a token bucket)
    burst: int = 10
    rate_limited_share: float = 0.0  # a 429 out of the blue (another sender on the account)
    retry_after_seconds: float = 2.0  # the hint such a 429 carries
    server_error_share: float = 0.0
    accepted_then_slow_share: float = 0.0  # accepted and recorded, answered only after `slow_seconds`
    slow_seconds: float = 30.0
    latency_seconds: float = 0.0
    latency_jitter_seconds: float = 0.0
    event_delay_seconds: float = 2.0  # when the delivery event reaches the sender's webhook
    seed: int = 7


@dataclass
class Forced:
    """Answer `status` (with `body` / `headers` when given) instead of the usual, for `calls` matching
    calls (None: every one), optionally only for one recipient."""

    status: int
    recipient: str | None = None
    calls: int | None = 1
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: int = 60

    def matches(self, recipient: str) -> bool:
        return self.recipient is None or self.recipient.lower() == recipient.lower()


@dataclass(frozen=True)
class Delivery:
    """A message the account accepted (and will report on)."""

    provider: str
    message_id: str
    job_id: str | None
    recipient: str
    at: datetime
    idempotency_key: str | None


@dataclass(frozen=True)
class Request:
    """One request as the account saw it (kept for tests and the benchmark)."""

    at: datetime
    recipient: str
    job_id: str | None
    decision: str
    status: int


@dataclass(frozen=True)
class Decision:
    kind: str
    retry_after_seconds: float = 0.0
    slow: bool = False
    forced: Forced | None = None
    latency_seconds: float = 0.0
    replayed: Delivery | None = None  # an idempotent repeat: answer with the first acceptance


class Account:
    def __init__(self, provider: str, *, faults: Faults | None = None, idempotent: bool = False) -> None:
        self.provider = provider
        self.faults = faults or Faults()
        self.idempotent = idempotent
        self.rng = random.Random(f"{provider}/{self.faults.seed}")
        self.forced: list[Forced] = []
        self.accepted: list[Delivery] = []
        self.requests: list[Request] = []
        self.keys: dict[str, tuple[str, Delivery]] = {}  # idempotency key -> (body hash, first acceptance)
        self.tokens: float = float(self.faults.burst)
        self.tokens_at: datetime | None = None
        self.counter = 0

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(f"{self.provider}/{faults.seed}")
        self.tokens, self.tokens_at = float(faults.burst), None

    def _bucket(self, now: datetime) -> float | None:
        """Take a token; None when one was available, else seconds until the next one."""
        rate = self.faults.rate_per_second
        if not rate:
            return None
        if self.tokens_at is not None:
            elapsed = max((now - self.tokens_at).total_seconds(), 0.0)
            self.tokens = min(float(self.faults.burst), self.tokens + elapsed * rate)
        self.tokens_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / rate

    def decide(self, recipient: str, now: datetime, *, key: str | None = None, body: Any = None) -> Decision:
        """What to do with a request that passed authentication and validation."""
        faults = self.faults
        latency = faults.latency_seconds + self.rng.random() * faults.latency_jitter_seconds
        rule = next((rule for rule in self.forced if rule.matches(recipient)), None)
        if rule is not None:
            if rule.calls is not None:
                rule.calls -= 1
                if rule.calls <= 0:
                    self.forced.remove(rule)
            return Decision(FORCED, rule.retry_after_seconds, forced=rule, latency_seconds=latency)
        if key and self.idempotent and key in self.keys:
            return Decision(ACCEPT, replayed=self.keys[key][1], latency_seconds=latency)
        wait = self._bucket(now)
        if wait is not None:
            return Decision(RATE_LIMIT, wait, latency_seconds=latency)
        roll = self.rng.random()
        if roll < faults.rate_limited_share:
            return Decision(RATE_LIMIT, faults.retry_after_seconds, latency_seconds=latency)
        roll -= faults.rate_limited_share
        if roll < faults.server_error_share:
            return Decision(SERVER_ERROR, latency_seconds=latency)
        roll -= faults.server_error_share
        slow = roll < faults.accepted_then_slow_share
        return Decision(ACCEPT, slow=slow, latency_seconds=latency)

    def body_hash(self, body: Any) -> str:
        return hashlib.sha256(repr(body).encode()).hexdigest()

    def accept(
        self, recipient: str, job_id: str | None, now: datetime, *, key: str | None = None, body: Any = None
    ) -> Delivery:
        self.counter += 1
        digest = hashlib.sha256(f"{self.provider}/{self.counter}/{self.faults.seed}".encode()).hexdigest()
        delivery = Delivery(self.provider, digest[:24], job_id, recipient.lower(), now, key)
        self.accepted.append(delivery)
        if key and self.idempotent:
            self.keys[key] = (self.body_hash(body), delivery)
        return delivery

    def record(self, now: datetime, recipient: str, job_id: str | None, decision: str, status: int) -> None:
        self.requests.append(Request(now, recipient.lower(), job_id, decision, status))

    def deliveries_of(self, job_id: str) -> list[Delivery]:
        return [delivery for delivery in self.accepted if delivery.job_id == job_id]

    def event_at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=max(self.faults.event_delay_seconds, 1.0))

    @staticmethod
    def bounces(recipient: str) -> bool:
        return recipient.lower().startswith("bounce")

    @staticmethod
    def complains(recipient: str) -> bool:
        return recipient.lower().startswith("complain")
