"""SendGrid v3 `POST /v3/mail/send` (Bearer key): 202 + `X-Message-Id`. No idempotency key."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from dispatch.classify import BAD_ADDRESS, SENDGRID_STATUS, Verdict, verdict
from dispatch.providers.base import Message, ProviderResult, answered, post
from dispatch.providers.transport import LaneHttp


def body(message: Message) -> dict[str, Any]:
    """One recipient, plain text then HTML, the unsubscribe headers, our ids as custom_args (SendGrid's
    event webhook carries them back)."""
    return {
        "personalizations": [{"to": [{"email": message.to}]}],
        "from": {"email": message.from_email, "name": message.from_name},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "headers": message.headers,
        "custom_args": message.tags,
        # We track opens and clicks ourselves (signed tokens); SendGrid's tracking would rewrite our links.
        "tracking_settings": {"click_tracking": {"enable": False}, "open_tracking": {"enable": False}},
    }


def rejects_recipient(text: str) -> bool:
    """True when a 400's `errors` name the recipient (`personalizations.N.to...`): the address is bad."""
    try:
        errors = json.loads(text).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(
        str(error.get("field") or "").startswith("personalizations") and ".to" in str(error.get("field"))
        for error in errors
        if isinstance(error, dict)
    )


class SendGrid:
    name = "sendgrid"
    channel = "email"

    def __init__(self, base_url: str, api_key: str, client: LaneHttp) -> None:
        self.url = f"{base_url}/v3/mail/send"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.client = client

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        response = await post(self.client, self.url, json=body(message), headers=self.headers)
        if isinstance(response, ProviderResult):
            return response
        found: Verdict = verdict(SENDGRID_STATUS, response.status_code)
        if response.status_code == 400 and rejects_recipient(response.text):
            found = BAD_ADDRESS
        return answered(
            found, response, now=now, started=started, message_id=response.headers.get("X-Message-Id")
        )

    async def aclose(self) -> None:
        pass
