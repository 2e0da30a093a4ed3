"""What every provider front end shares: the reply it gives, the events it owes, and the steps every
request goes through (the account decides; the front end speaks its provider's wire format)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Protocol

from simulator.providers.accounts import ACCEPT, FORCED, RATE_LIMIT, Account, Decision, Delivery

EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
ADDRESS_IN_NAME = re.compile(r"<([^<>]+)>\s*$")


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None  # JSON-able; bytes/str are sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # latency, or an accepted request answered too late
    delivery: Delivery | None = None  # a message accepted by this request (not by an earlier one)
    job_id: str | None = None
    recipient: str | None = None
    message_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.message_id is not None


@dataclass(frozen=True)
class Event:
    """A webhook the provider owes the sender: POST `body` to `url` at `at`."""

    at: datetime
    url: str
    body: bytes
    headers: dict[str, str]
    kind: str  # delivered, bounced, complained, ...
    job_id: str | None


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    url: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Front(Protocol):
    provider: str
    routes: tuple[str, ...]

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply: ...

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]: ...


def address_of(value: Any) -> str:
    """`Name <a@b.c>` or `a@b.c` -> `a@b.c` (not validated)."""
    text = str(value or "").strip()
    found = ADDRESS_IN_NAME.search(text)
    return (found.group(1) if found else text).strip()


def retry_after(seconds: float) -> str:
    """Retry-After in whole seconds, rounded up: a sender that honours it is never early."""
    whole = int(seconds) + (0 if float(seconds).is_integer() else 1)
    return str(max(whole, 1))


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def decide_and_answer(
    account: Account,
    decision: Decision,
    *,
    recipient: str,
    job_id: str | None,
    now: datetime,
    accepted: Callable[[Delivery, bool], Reply],
    rate_limited: Callable[[float], Reply],
    server_error: Callable[[], Reply],
    forced: Callable[[Decision], Reply],
    key: str | None = None,
    body: Any = None,
) -> Reply:
    """The account's decision in the provider's words; records the request and any acceptance."""
    if decision.kind == ACCEPT:
        if decision.replayed is not None:
            reply = accepted(decision.replayed, True)
        else:
            delivery = account.accept(recipient, job_id, now, key=key, body=body)
            reply = accepted(delivery, False)
            reply = Reply(**{**reply.__dict__, "delivery": delivery})
        if decision.slow:
            reply = Reply(**{**reply.__dict__, "delay_seconds": account.faults.slow_seconds})
    elif decision.kind == RATE_LIMIT:
        reply = rate_limited(decision.retry_after_seconds)
    elif decision.kind == FORCED:
        reply = forced(decision)
    else:
        reply = server_error()
    reply = Reply(
        **{
            **reply.__dict__,
            "delay_seconds": reply.delay_seconds + decision.latency_seconds,
            "job_id": job_id,
            "recipient": recipient,
        }
    )
    account.record(now, recipient, job_id, decision.kind, reply.status)
    return reply
