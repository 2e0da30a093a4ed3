"""Postmark `POST /email` (`X-Postmark-Server-Token`): 200 `{"To", "SubmittedAt", "MessageID",
"ErrorCode": 0, "Message": "OK"}`; errors keep Postmark's shape `{"ErrorCode", "Message"}` (10 bad token,
300 invalid email request, 406 inactive recipient, 429 rate limited). Delivery, Bounce and SpamComplaint
webhooks carry the message's `Metadata`."""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any

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


def error(code: int, message: str) -> dict[str, Any]:
    return {"ErrorCode": code, "Message": message}


class PostmarkFront:
    provider = "postmark"
    routes = ("/email",)

    def __init__(
        self, server_token: str, events_url: str | None = None, inactive: tuple[str, ...] = ()
    ) -> None:
        self.server_token = server_token
        self.events_url = events_url
        self.inactive = {address.lower() for address in inactive}
        self.metadata: dict[str, dict[str, Any]] = {}

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply:
        token = request.headers.get("x-postmark-server-token") or ""
        if not token or not hmac.compare_digest(token.encode(), self.server_token.encode()):
            return Reply(401, error(10, "Request does not contain a valid Server token."))
        body = request.json()
        if not isinstance(body, dict):
            return Reply(422, error(300, "Invalid email request: the body is not JSON"))
        recipient = address_of(body.get("To")).lower()
        if not EMAIL.match(address_of(body.get("From"))):
            return Reply(422, error(300, "Invalid 'From' address."))
        if not EMAIL.match(recipient):
            return Reply(422, error(300, f"Error parsing 'To': Illegal email address '{body.get('To')}'."))
        if not (body.get("HtmlBody") or body.get("TextBody")):
            return Reply(422, error(300, "Provide either email TextBody or HtmlBody or both."))
        if recipient in self.inactive:
            return Reply(
                422,
                error(
                    406,
                    "You tried to send to recipient(s) that have been marked as inactive. Found inactive"
                    f" addresses: {recipient}. Inactive recipients are ones that have generated a hard"
                    " bounce, a spam complaint, or a manual suppression.",
                ),
            )
        metadata = body.get("Metadata") if isinstance(body.get("Metadata"), dict) else {}
        job_id = None if metadata.get("job_id") is None else str(metadata["job_id"])

        def accepted(delivery: Delivery, replayed: bool) -> Reply:
            self.metadata[delivery.message_id] = metadata
            answer = {
                "To": body.get("To"),
                "SubmittedAt": now.isoformat(),
                "MessageID": delivery.message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
            return Reply(200, answer, message_id=delivery.message_id)

        def forced(decision: Decision) -> Reply:
            rule = decision.forced
            assert rule is not None
            return Reply(rule.status, rule.body or error(rule.status, "forced"), dict(rule.headers))

        return decide_and_answer(
            account,
            account.decide(recipient, now),
            recipient=recipient,
            job_id=job_id,
            now=now,
            accepted=accepted,
            rate_limited=lambda seconds: Reply(
                429, error(429, "Rate limit exceeded."), {"Retry-After": retry_after(seconds)}
            ),
            server_error=lambda: Reply(500, error(500, "Internal server error")),
            forced=forced,
        )

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]:
        if not self.events_url:
            return []
        at = account.event_at(now)
        common = {
            "MessageID": delivery.message_id,
            "MessageStream": "outbound",
            "Metadata": self.metadata.get(delivery.message_id, {}),
            "ServerID": 1,
            "Tag": "",
        }
        if account.bounces(delivery.recipient):
            kind = "bounced"
            record = {
                "RecordType": "Bounce",
                "ID": abs(hash(delivery.message_id)) % 10**9,
                "Type": "HardBounce",
                "TypeCode": 1,
                "Email": delivery.recipient,
                "BouncedAt": at.isoformat(),
                "Description": "The server was unable to deliver your message (ex: unknown user).",
                "Inactive": True,
            }
        elif account.complains(delivery.recipient):
            kind = "complained"
            record = {"RecordType": "SpamComplaint", "Type": "SpamComplaint", "Email": delivery.recipient}
        else:
            kind = "delivered"
            record = {
                "RecordType": "Delivery",
                "Recipient": delivery.recipient,
                "DeliveredAt": at.isoformat(),
                "Details": "Test delivery webhook details",
            }
        body = json.dumps(common | record).encode()
        return [Event(at, self.events_url, body, {"Content-Type": "application/json"}, kind, delivery.job_id)]
