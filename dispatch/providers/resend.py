"""Resend `POST /emails` (Bearer key) with an `Idempotency-Key`: a request repeated with the same key
within 24 hours is answered with the first answer and sends nothing, so a send whose outcome is unknown can
be made again safely. 200 with `{"id"}`; errors are `{"statusCode", "name", "message"}`."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dispatch.classify import BAD_ADDRESS, RESEND_ERROR, RESEND_STATUS, verdict
from dispatch.providers.base import Message, ProviderResult, answered, json_or_empty, post
from dispatch.providers.transport import LaneHttp


def body(message: Message) -> dict[str, Any]:
    return {
        "from": message.sender,
        "to": [message.to],
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "headers": message.headers,
        # Tag values take letters, digits, _ and - only: our job id is enough to find everything else.
        "tags": [{"name": "job_id", "value": str(message.job_id)}],
    }


class Resend:
    name = "resend"
    channel = "email"
    idempotent = True

    def __init__(self, base_url: str, api_key: str, client: LaneHttp) -> None:
        self.url = f"{base_url}/emails"
        self.api_key = api_key
        self.client = client

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": message.idempotency_key}
        response = await post(self.client, self.url, json=body(message), headers=headers)
        if isinstance(response, ProviderResult):
            return response
        answer = json_or_empty(response)
        name = answer.get("name")
        found = verdict(RESEND_ERROR, name, verdict(RESEND_STATUS, response.status_code))
        if response.status_code == 200:
            found = verdict(RESEND_STATUS, 200)
        if found.outcome == "permanent" and "`to`" in str(answer.get("message", "")):
            found = BAD_ADDRESS
        error = f"{name}: {answer.get('message')}" if name else None
        return answered(found, response, now=now, started=started, message_id=answer.get("id"), error=error)

    async def aclose(self) -> None:
        pass
