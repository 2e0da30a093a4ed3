"""What every provider lane takes and gives back, so SMTP, Postmark, SES or Twilio can sit beside SendGrid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class EmailMessage:
    to: str
    from_email: str
    from_name: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    custom_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResult:
    """The provider's answer, already classified (`accepted`, `transient`, `rate_limited`, `permanent`,
    `account`, `unknown`); `recipient_rejected` says a permanent answer is about the address itself."""

    outcome: str
    status_code: int | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_after_seconds: float | None = None
    latency_ms: float = 0.0
    recipient_rejected: bool = False


class EmailProvider(Protocol):
    name: str

    def send(self, message: EmailMessage, now: datetime) -> ProviderResult: ...

    def close(self) -> None: ...
