"""Resend `POST /emails` (Bearer `re_...`) with `Idempotency-Key`: a request repeated with the same key is
answered with the first answer and sends nothing (the same key with another body is 409
`invalid_idempotent_request`). 200 `{"id"}`; errors `{"statusCode", "name", "message"}`; 429 with
`retry-after` and `ratelimit-reset`. Webhooks are signed the way Resend signs them (Svix: `svix-id`,
`svix-timestamp`, `svix-signature: v1,<base64 HMAC-SHA256>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
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


def error(status: int, name: str, message: str) -> Reply:
    return Reply(status, {"statusCode": status, "name": name, "message": message})


def svix_headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = str(int(at.timestamp()))
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": f"v1,{signature}",
        "Content-Type": "application/json",
    }


class ResendFront:
    provider = "resend"
    routes = ("/emails",)

    def __init__(self, api_key: str, events_url: str | None = None, webhook_secret: str = "") -> None:
        self.api_key = api_key
        self.events_url = events_url
        self.webhook_secret = webhook_secret
        self.sent: dict[str, dict[str, Any]] = {}

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return error(401, "missing_api_key", "Missing API key in the authorization header.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return error(403, "invalid_api_key", "API key is invalid.")
        body = request.json()
        if not isinstance(body, dict):
            return error(422, "validation_error", "The request body is not valid JSON.")
        recipients = body.get("to") if isinstance(body.get("to"), list) else [body.get("to")]
        if not EMAIL.match(address_of(body.get("from"))):
            return error(422, "validation_error", "Invalid `from` field.")
        if not recipients or not all(EMAIL.match(address_of(value)) for value in recipients):
            return error(
                422,
                "validation_error",
                "Invalid `to` field. The email address needs to follow the `email@example.com` or"
                " `Name <email@example.com>` format.",
            )
        if not body.get("subject"):
            return error(422, "missing_required_field", "Missing `subject` field.")
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 256:
            return error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        if idempotency_key and idempotency_key in account.keys:
            first_hash, _ = account.keys[idempotency_key]
            if first_hash != account.body_hash(body):
                return error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
        recipient = address_of(recipients[0]).lower()
        tags = {
            str(tag.get("name")): str(tag.get("value"))
            for tag in body.get("tags") or []
            if isinstance(tag, dict)
        }
        job_id = tags.get("job_id")

        def accepted(delivery: Delivery, replayed: bool) -> Reply:
            self.sent.setdefault(
                delivery.message_id, {"tags": tags, "subject": body.get("subject"), "from": body.get("from")}
            )
            return Reply(200, {"id": delivery.message_id}, message_id=delivery.message_id)

        def forced(decision: Decision) -> Reply:
            rule = decision.forced
            assert rule is not None
            answer = rule.body or {
                "statusCode": rule.status,
                "name": "application_error",
                "message": "forced",
            }
            return Reply(rule.status, answer, dict(rule.headers))

        return decide_and_answer(
            account,
            account.decide(recipient, now, key=idempotency_key, body=body),
            recipient=recipient,
            job_id=job_id,
            now=now,
            accepted=accepted,
            rate_limited=lambda seconds: Reply(
                429,
                {
                    "statusCode": 429,
                    "name": "rate_limit_exceeded",
                    "message": "Too many requests. You can only make 2 requests per second.",
                },
                {"retry-after": retry_after(seconds), "ratelimit-reset": retry_after(seconds)},
            ),
            server_error=lambda: error(500, "internal_server_error", "An unexpected error occurred."),
            forced=forced,
            key=idempotency_key,
            body=body,
        )

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]:
        if not self.events_url or not self.webhook_secret:
            return []
        at = account.event_at(now)
        sent = self.sent.get(delivery.message_id, {})
        if account.bounces(delivery.recipient):
            kind, event_type = "bounced", "email.bounced"
        elif account.complains(delivery.recipient):
            kind, event_type = "complained", "email.complained"
        else:
            kind, event_type = "delivered", "email.delivered"
        payload = {
            "type": event_type,
            "created_at": at.isoformat(),
            "data": {
                "email_id": delivery.message_id,
                "created_at": delivery.at.isoformat(),
                "from": sent.get("from"),
                "to": [delivery.recipient],
                "subject": sent.get("subject"),
                "tags": sent.get("tags", {}),
            },
        }
        body = json.dumps(payload).encode()
        message_id = f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, f'{delivery.message_id}/{kind}').hex}"
        return [
            Event(
                at,
                self.events_url,
                body,
                svix_headers(self.webhook_secret, message_id, at, body),
                kind,
                delivery.job_id,
            )
        ]
