"""What every provider takes and gives back, and the HTTP call they share.

A provider turns one `Message` into one classified `ProviderResult`. A request that never reached the
provider (no connection, a full pool) is `transient`: nothing was sent. One that reached it but got no
answer (a read timeout, a dropped connection) is `unknown`: it may have been accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from dispatch.classify import PERMANENT, TRANSIENT, UNKNOWN, Verdict, retry_hint_seconds
from dispatch.providers.transport import LaneHttp

ERROR_BODY_CHARS = 500


@dataclass(frozen=True)
class Message:
    """One rendered notification, ready for any provider of its channel."""

    job_id: int
    channel: str
    to: str
    text: str
    subject: str = ""
    html: str = ""
    from_email: str = ""
    from_name: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # List-Unsubscribe, ...
    tags: dict[str, str] = field(default_factory=dict)  # our ids, carried back by provider events
    idempotency_key: str = ""
    status_callback: str = ""  # where the provider posts this message's events (Twilio)

    @property
    def sender(self) -> str:
        return f"{self.from_name} <{self.from_email}>" if self.from_name else self.from_email


@dataclass(frozen=True)
class ProviderResult:
    """The provider's answer, classified; `suppress` names the reason when a permanent answer is about the
    address itself (the contact is then suppressed)."""

    outcome: str
    status_code: int | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    latency_ms: float = 0.0
    suppress: str | None = None


class Provider(Protocol):
    name: str
    channel: str

    async def send(self, message: Message, now: datetime) -> ProviderResult: ...

    async def aclose(self) -> None: ...


def since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def answered(
    verdict: Verdict,
    response: httpx.Response,
    *,
    now: datetime,
    started: float,
    message_id: str | None = None,
    error: str | None = None,
) -> ProviderResult:
    """A result from an HTTP answer and its verdict."""
    if verdict.outcome == "accepted":
        return ProviderResult("accepted", response.status_code, message_id, latency_ms=since(started))
    detail = error or response.text[:ERROR_BODY_CHARS]
    return ProviderResult(
        verdict.outcome,
        response.status_code,
        error=f"{response.status_code} {detail}".strip(),
        retry_after_seconds=retry_hint_seconds(response.headers, now),
        latency_ms=since(started),
        suppress=verdict.suppress if verdict.outcome == PERMANENT else None,
    )


async def post(client: LaneHttp, url: str, **request: Any) -> httpx.Response | ProviderResult:
    """POST, turning transport failures into results: never sent -> transient, maybe sent -> unknown."""
    started = time.perf_counter()
    try:
        return await client.post(url, **request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        return ProviderResult(TRANSIENT, error=f"not sent: {error!r}", latency_ms=since(started))
    except httpx.TransportError as error:
        return ProviderResult(UNKNOWN, error=f"no answer: {error!r}", latency_ms=since(started))


def json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
