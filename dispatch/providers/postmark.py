"""Postmark `POST /email` (`X-Postmark-Server-Token`): 200 with `{"ErrorCode": 0, "MessageID"}`; errors
carry an `ErrorCode`, which decides the class (the HTTP status only when there is none). No idempotency
key; events come back by webhook with our `Metadata`."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dispatch.classify import POSTMARK_CODE, POSTMARK_STATUS, verdict
from dispatch.providers.base import Message, ProviderResult, answered, json_or_empty, post
from dispatch.providers.transport import LaneHttp


def body(message: Message) -> dict[str, Any]:
    return {
        "From": message.sender,
        "To": message.to,
        "Subject": message.subject,
        "HtmlBody": message.html,
        "TextBody": message.text,
        "Headers": [{"Name": name, "Value": value} for name, value in message.headers.items()],
        "Metadata": message.tags,
        "MessageStream": "outbound",
        "TrackOpens": False,
        "TrackLinks": "None",
    }


class Postmark:
    name = "postmark"
    channel = "email"

    def __init__(self, base_url: str, server_token: str, client: LaneHttp) -> None:
        self.url = f"{base_url}/email"
        self.headers = {"X-Postmark-Server-Token": server_token, "Accept": "application/json"}
        self.client = client

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        response = await post(self.client, self.url, json=body(message), headers=self.headers)
        if isinstance(response, ProviderResult):
            return response
        answer = json_or_empty(response)
        code = answer.get("ErrorCode")
        found = verdict(POSTMARK_CODE, code, verdict(POSTMARK_STATUS, response.status_code))
        if response.status_code >= 500:
            found = verdict(POSTMARK_STATUS, response.status_code)
        error = f"ErrorCode {code}: {answer.get('Message')}" if code else None
        return answered(
            found, response, now=now, started=started, message_id=answer.get("MessageID"), error=error
        )

    async def aclose(self) -> None:
        pass
