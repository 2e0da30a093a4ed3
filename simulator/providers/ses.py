"""Amazon SES API v2 `SendEmail` (`POST /v2/email/outbound-emails`), SigV4-signed: the signature is checked
by recomputing it with botocore from the request as received (403 `SignatureDoesNotMatch` when it
differs). 200 `{"MessageId"}`; errors name their exception in `x-amzn-ErrorType` with `{"message"}`.
Events go out the way SES publishes them: an SNS `Notification` whose `Message` is the SES event, with the
message's tags (our `job_id`)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from simulator.providers.accounts import Account, Decision, Delivery
from simulator.providers.common import (
    EMAIL,
    Event,
    Incoming,
    Reply,
    address_of,
    decide_and_answer,
    retry_after,
)

AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
    r"aws4_request, ?SignedHeaders=(?P<headers>[^,]+), ?Signature=(?P<signature>[0-9a-f]{64})"
)
TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def error(kind: str, message: str, status: int) -> Reply:
    return Reply(status, {"message": message}, {"x-amzn-ErrorType": f"{kind}:"})


class SesFront:
    provider = "ses"
    routes = ("/v2/email/outbound-emails",)

    def __init__(
        self, access_key_id: str, secret_access_key: str, region: str, events_url: str | None = None
    ) -> None:
        self.access_key_id = access_key_id
        self.credentials = Credentials(access_key_id, secret_access_key)
        self.region = region
        self.events_url = events_url
        self.tags: dict[str, dict[str, list[str]]] = {}

    def signature_problem(self, request: Incoming) -> str | None:
        found = AUTHORIZATION.match(request.headers.get("authorization", ""))
        if found is None:
            return "MissingAuthenticationToken"
        if found["key"] != self.access_key_id:
            return "UnrecognizedClientException"
        if found["region"] != self.region or found["service"] != "ses":
            return "SignatureDoesNotMatch"
        amz_date = request.headers.get("x-amz-date", "")
        signed = found["headers"].split(";")
        replay = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        replay.context["timestamp"] = amz_date
        signer = SigV4Auth(self.credentials, "ses", self.region)
        expected = signer.signature(signer.string_to_sign(replay, signer.canonical_request(replay)), replay)
        return None if expected == found["signature"] else "SignatureDoesNotMatch"

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply:
        problem = self.signature_problem(request)
        if problem is not None:
            return error(
                problem, "The request signature we calculated does not match the signature you provided.", 403
            )
        body = request.json()
        if not isinstance(body, dict):
            return error("BadRequestException", "Could not parse the request body", 400)
        sender = address_of(body.get("FromEmailAddress"))
        recipients = ((body.get("Destination") or {}).get("ToAddresses")) or []
        simple = (body.get("Content") or {}).get("Simple") or {}
        if not EMAIL.match(sender):
            return error("BadRequestException", "Missing or invalid FromEmailAddress", 400)
        if len(recipients) != 1 or not EMAIL.match(address_of(recipients[0])):
            return error("BadRequestException", "Illegal address", 400)
        if not (simple.get("Subject") or {}).get("Data") or not (simple.get("Body") or {}):
            return error("BadRequestException", "Simple content needs a Subject and a Body", 400)
        tags = body.get("EmailTags") or []
        if any(not TAG_VALUE.match(str(tag.get("Value", ""))) for tag in tags):
            return error("BadRequestException", "Invalid tag value: letters, digits, _ and - only", 400)
        recipient = address_of(recipients[0]).lower()
        tag_map = {str(tag["Name"]): [str(tag["Value"])] for tag in tags}
        job_id = tag_map.get("job_id", [None])[0]

        def accepted(delivery: Delivery, replayed: bool) -> Reply:
            self.tags[delivery.message_id] = tag_map
            message_id = f"0100019{delivery.message_id}-000000"
            return Reply(200, {"MessageId": message_id}, message_id=message_id)

        def forced(decision: Decision) -> Reply:
            rule = decision.forced
            assert rule is not None
            kind = (
                (rule.body or {}).get("type", "BadRequestException")
                if isinstance(rule.body, dict)
                else "Forced"
            )
            message = (rule.body or {}).get("message", "forced") if isinstance(rule.body, dict) else "forced"
            return error(kind, message, rule.status)

        return decide_and_answer(
            account,
            account.decide(recipient, now),
            recipient=recipient,
            job_id=job_id,
            now=now,
            accepted=accepted,
            rate_limited=lambda seconds: Reply(
                429,
                {"message": "Maximum sending rate exceeded."},
                {"x-amzn-ErrorType": "TooManyRequestsException:", "Retry-After": retry_after(seconds)},
            ),
            server_error=lambda: error("InternalServiceErrorException", "Internal service error", 500),
            forced=forced,
        )

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]:
        if not self.events_url:
            return []
        at = account.event_at(now)
        mail = {
            "timestamp": delivery.at.isoformat(),
            "source": "alerts@example.com",
            "messageId": f"0100019{delivery.message_id}-000000",
            "destination": [delivery.recipient],
            "tags": self.tags.get(delivery.message_id, {}),
        }
        if account.bounces(delivery.recipient):
            kind, event = (
                "bounced",
                {
                    "eventType": "Bounce",
                    "bounce": {
                        "bounceType": "Permanent",
                        "bounceSubType": "General",
                        "bouncedRecipients": [{"emailAddress": delivery.recipient, "status": "5.1.1"}],
                        "timestamp": at.isoformat(),
                        "feedbackId": uuid.uuid4().hex,
                    },
                },
            )
        elif account.complains(delivery.recipient):
            kind, event = (
                "complained",
                {
                    "eventType": "Complaint",
                    "complaint": {
                        "complainedRecipients": [{"emailAddress": delivery.recipient}],
                        "timestamp": at.isoformat(),
                    },
                },
            )
        else:
            kind, event = (
                "delivered",
                {
                    "eventType": "Delivery",
                    "delivery": {
                        "timestamp": at.isoformat(),
                        "recipients": [delivery.recipient],
                        "smtpResponse": "250 OK",
                    },
                },
            )
        topic = f"arn:aws:sns:{self.region}:123456789012:ses-events"
        envelope: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{delivery.message_id}/{kind}")),
            "TopicArn": topic,
            "Message": json.dumps({**event, "mail": mail}),
            "Timestamp": at.isoformat(),
            "SignatureVersion": "1",
            "Signature": "simulated",
            "SigningCertURL": f"https://sns.{self.region}.amazonaws.com/SimpleNotificationService.pem",
            "UnsubscribeURL": f"https://sns.{self.region}.amazonaws.com/?Action=Unsubscribe",
        }
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification",
            "x-amz-sns-topic-arn": topic,
            "x-amz-sns-message-id": envelope["MessageId"],
        }
        return [Event(at, self.events_url, json.dumps(envelope).encode(), headers, kind, delivery.job_id)]


def host_of(url: str) -> str:
    return urlsplit(url).netloc
