"""SendGrid v3 `POST /v3/mail/send` over httpx: one message in, one classified answer out."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from backinstock.settings import EmailSettings
from dispatch.classify import (
    ACCEPTED,
    PERMANENT,
    TRANSIENT,
    UNKNOWN,
    classify_sendgrid,
    retry_hint_seconds,
    sendgrid_rejects_recipient,
)
from dispatch.providers.base import EmailMessage, ProviderResult

ERROR_BODY_CHARS = 500


def sendgrid_body(message: EmailMessage) -> dict[str, Any]:
    """The v3 body: one recipient, plain text then HTML, the unsubscribe headers, our ids as custom_args."""
    return {
        "personalizations": [{"to": [{"email": message.to}]}],
        "from": {"email": message.from_email, "name": message.from_name},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "headers": message.headers,
        "custom_args": message.custom_args,
        # We track opens and clicks ourselves (signed tokens); SendGrid's tracking would rewrite our links.
        "tracking_settings": {"click_tracking": {"enable": False}, "open_tracking": {"enable": False}},
    }


class SendGridProvider:
    name = "sendgrid"

    def __init__(self, settings: EmailSettings, client: httpx.Client | None = None) -> None:
        self.url = f"{settings.api_url.rstrip('/')}/v3/mail/send"
        self._client = client or httpx.Client(timeout=settings.timeout_seconds)
        self._headers = {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}

    def close(self) -> None:
        self._client.close()

    def send(self, message: EmailMessage, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        try:
            response = self._client.post(self.url, json=sendgrid_body(message), headers=self._headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # The request never reached SendGrid: nothing was sent, retrying is safe.
            return ProviderResult(outcome=TRANSIENT, error=repr(error), latency_ms=_since(started))
        except httpx.TransportError as error:
            # Sent but unanswered (read timeout, dropped connection): it may have been accepted.
            return ProviderResult(outcome=UNKNOWN, error=repr(error), latency_ms=_since(started))
        latency_ms = _since(started)
        outcome = classify_sendgrid(response.status_code)
        if outcome == ACCEPTED:
            return ProviderResult(
                outcome=outcome,
                status_code=response.status_code,
                provider_message_id=response.headers.get("X-Message-Id"),
                latency_ms=latency_ms,
            )
        return ProviderResult(
            outcome=outcome,
            status_code=response.status_code,
            error=f"{response.status_code} {response.text[:ERROR_BODY_CHARS]}".strip(),
            retry_after_seconds=retry_hint_seconds(response.headers, now),
            latency_ms=latency_ms,
            recipient_rejected=outcome == PERMANENT and sendgrid_rejects_recipient(response.text),
        )


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
