"""Amazon SES API v2 `SendEmail` (`POST /v2/email/outbound-emails`), signed with botocore's SigV4 (service
`ses`): 200 with `{"MessageId"}`; errors name their exception in `x-amzn-ErrorType` (or the body's
`__type`). No idempotency key; events come back through the configuration set's SNS destination with our
`job_id` message tag."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dispatch.classify import (
    BAD_ADDRESS,
    DAILY_QUOTA_PAUSE_SECONDS,
    RATE_LIMITED,
    SES_ERROR,
    SES_STATUS,
    verdict,
)
from dispatch.providers.base import Message, ProviderResult, answered, json_or_empty, post
from dispatch.providers.transport import LaneHttp

PATH = "/v2/email/outbound-emails"


def body(message: Message, configuration_set: str = "") -> dict[str, Any]:
    charset = "UTF-8"
    content: dict[str, Any] = {
        "Simple": {
            "Subject": {"Data": message.subject, "Charset": charset},
            "Body": {
                "Text": {"Data": message.text, "Charset": charset},
                "Html": {"Data": message.html, "Charset": charset},
            },
            "Headers": [{"Name": name, "Value": value} for name, value in message.headers.items()],
        }
    }
    request: dict[str, Any] = {
        "FromEmailAddress": message.sender,
        "Destination": {"ToAddresses": [message.to]},
        "Content": content,
        # Tag values take letters, digits, _ and - only: our job id is enough to find everything else.
        "EmailTags": [{"Name": "job_id", "Value": str(message.job_id)}],
    }
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    return request


def error_type(response: httpx.Response, answer: dict[str, Any]) -> str:
    """`MessageRejected:http://...` or `com.amazonaws...#MessageRejected` -> `MessageRejected`."""
    raw = response.headers.get("x-amzn-ErrorType") or str(answer.get("__type") or "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


class SES:
    name = "ses"
    channel = "email"

    def __init__(
        self,
        base_url: str,
        *,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        configuration_set: str,
        client: LaneHttp,
    ) -> None:
        self.url = f"{base_url}{PATH}"
        self.signer = SigV4Auth(Credentials(access_key_id, secret_access_key), "ses", region)
        self.configuration_set = configuration_set
        self.client = client

    def signed_headers(self, payload: bytes) -> dict[str, str]:
        request = AWSRequest(
            method="POST", url=self.url, data=payload, headers={"Content-Type": "application/json"}
        )
        self.signer.add_auth(request)
        return dict(request.headers.items())

    async def send(self, message: Message, now: datetime) -> ProviderResult:
        started = time.perf_counter()
        payload = json.dumps(body(message, self.configuration_set)).encode()
        response = await post(self.client, self.url, content=payload, headers=self.signed_headers(payload))
        if isinstance(response, ProviderResult):
            return response
        answer = json_or_empty(response)
        kind = error_type(response, answer)
        text = str(answer.get("message") or answer.get("Message") or "")
        found = verdict(SES_ERROR, kind, verdict(SES_STATUS, response.status_code))
        if response.status_code == 200:
            found = verdict(SES_STATUS, 200)
        elif kind == "BadRequestException" and "address" in text.lower():
            found = BAD_ADDRESS
        result = answered(
            found,
            response,
            now=now,
            started=started,
            message_id=answer.get("MessageId"),
            error=f"{kind}: {text}" if kind else None,
        )
        if result.outcome == RATE_LIMITED and "daily" in text.lower() and result.retry_after_seconds is None:
            return ProviderResult(**{**result.__dict__, "retry_after_seconds": DAILY_QUOTA_PAUSE_SECONDS})
        return result

    async def aclose(self) -> None:
        pass
