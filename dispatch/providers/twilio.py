"""Twilio Programmable Messaging `POST /2010-04-01/Accounts/{Sid}/Messages.json` (HTTP basic auth with the
account SID and auth token, form-encoded): 201 with `{"sid", "status", "num_segments"}`; errors are
`{"code", "message", "more_info", "status"}` and the code decides the class. Status callbacks (queued,
sent, delivered, undelivered, failed) come back to the message's `StatusCallback` URL, which names our job.
"""

from __future__ import annotations

import time
from datetime import datetime

from dispatch.classify import TWILIO_CODE, TWILIO_STATUS, verdict
from dispatch.providers.base import Message, ProviderResult, answered, json_or_empty, post
from dispatch.providers.transport import LaneHttp, basic_auth


class Twilio:
    name = "twilio"
    channel = "sms"

    def __init__(
        self,
        base_url: str,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        messaging_service_sid: str,
        client: LaneHttp,
    ) -> None:
        self.url = f"{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.headers = {"Authorization": basic_auth(account_sid, auth_token)}
        self.sender = (
            {"MessagingServiceSid": messaging_service_sid} if messaging_service_sid else {"From": from_number}
        )
        self.client = client

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        form = {"To": message.to, "Body": message.text, **self.sender}
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        response = await post(self.client, self.url, data=form, headers=self.headers)
        if isinstance(response, ProviderResult):
            return response
        answer = json_or_empty(response)
        code = answer.get("code")
        found = verdict(TWILIO_CODE, code, verdict(TWILIO_STATUS, response.status_code))
        if response.status_code in (200, 201):
            found = verdict(TWILIO_STATUS, response.status_code)
        error = f"{code}: {answer.get('message')}" if code else None
        return answered(found, response, now=now, started=started, message_id=answer.get("sid"), error=error)

    async def aclose(self) -> None:
        pass
