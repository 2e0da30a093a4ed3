"""SendGrid v3 `POST /v3/mail/send`: the checks SendGrid makes, in its order (the API key: 401; the body:
400 `{"errors":[{"field","message"}]}`), then the account's decision: 202 with `X-Message-Id`, 429 with
`X-RateLimit-Reset` (epoch seconds), 500. Accepted messages are reported to the Event Webhook as a JSON
array of events carrying the message's `custom_args` at the top level."""

from __future__ import annotations

import hmac
import json
import uuid
from datetime import datetime
from typing import Any

from simulator.providers.accounts import Account, Decision, Delivery
from simulator.providers.common import EMAIL, Event, Incoming, Reply, decide_and_answer

CONTENT_TYPES = ("text/plain", "text/html")


def errors_body(message: str, field_name: str | None = None) -> dict[str, Any]:
    return {"errors": [{"field": field_name, "message": message}]}


DEFAULT_BODIES = {
    400: errors_body("Does not contain a valid address.", "personalizations.0.to.0.email"),
    401: errors_body("The provided authorization grant is invalid, expired, or revoked"),
    403: errors_body("The from address does not match a verified Sender Identity."),
    413: errors_body("Request entity too large"),
    429: errors_body("too many requests"),
    500: errors_body("Internal server error"),
    503: errors_body("Service unavailable"),
}

# SendGrid's words for what is wrong, by the field it names.
MESSAGES = {
    "personalizations": "The personalizations field is required and must have at least one personalization.",
    "personalizations.0.to": "The to array is required for all personalization objects, and must have at "
    "least one email object with a valid email address.",
    "personalizations.0.to.0.email": "Does not contain a valid address.",
    "from": "The from object must be provided for every email send. It is an object that requires the "
    "email parameter, but may also contain a name parameter.",
    "from.email": "The from email does not contain a valid address.",
    "subject": "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined.",
    "content": "Unless a valid template_id is provided, the content parameter is required. There must be at "
    "least one defined content block.",
    "content.type": "Content type must be text/plain or text/html.",
    "content.value": "The content value must be a string at least one character in length.",
    "content.order": "If present, text/plain and text/html may only be provided in this order.",
}


def validation_errors(body: Any) -> list[dict[str, Any]]:
    """SendGrid's complaints about a mail/send body, in its words; empty when the body is sendable."""
    if not isinstance(body, dict):
        return errors_body("Bad Request")["errors"]
    wrong: list[tuple[str, str]] = []  # (field named in the answer, key of its message)
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        wrong.append(("personalizations", "personalizations"))
    else:
        recipients = personalizations[0].get("to") if isinstance(personalizations[0], dict) else None
        if not isinstance(recipients, list) or not recipients or not isinstance(recipients[0], dict):
            wrong.append(("personalizations.0.to", "personalizations.0.to"))
        elif not EMAIL.match(str(recipients[0].get("email") or "")):
            wrong.append(("personalizations.0.to.0.email", "personalizations.0.to.0.email"))
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        wrong.append(("from", "from"))
    elif not EMAIL.match(str(sender["email"])):
        wrong.append(("from.email", "from.email"))
    if not isinstance(body.get("subject"), str) or not body["subject"].strip():
        wrong.append(("subject", "subject"))
    wrong.extend(_content_problems(body.get("content")))
    return [{"field": field_name, "message": MESSAGES[key]} for field_name, key in wrong]


def _content_problems(content: Any) -> list[tuple[str, str]]:
    if not isinstance(content, list) or not content:
        return [("content", "content")]
    wrong = []
    types = []
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in CONTENT_TYPES:
            wrong.append((f"content.{index}.type", "content.type"))
        elif not isinstance(block.get("value"), str) or not block["value"]:
            wrong.append((f"content.{index}.value", "content.value"))
        types.append(kind)
    if (
        "text/plain" in types
        and "text/html" in types
        and types.index("text/plain") > types.index("text/html")
    ):
        wrong.append(("content", "content.order"))
    return wrong


def recipient_of(body: Any) -> str | None:
    """The first recipient's address, lower-cased, or None when the body has none."""
    try:
        return str(body["personalizations"][0]["to"][0]["email"]).strip().lower()
    except (KeyError, IndexError, TypeError):
        return None


def custom_args(body: Any) -> dict[str, Any]:
    args = body.get("custom_args") if isinstance(body, dict) else None
    return args if isinstance(args, dict) else {}


class SendGridFront:
    provider = "sendgrid"
    routes = ("/v3/mail/send",)

    def __init__(self, api_key: str, events_url: str | None = None) -> None:
        self.api_key = api_key
        self.events_url = events_url
        self.bodies: dict[str, dict[str, Any]] = {}  # message id -> custom_args, for its events

    def authorised(self, authorization: str | None) -> bool:
        scheme, _, key = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), self.api_key.encode())

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply:
        if not self.authorised(request.headers.get("authorization")):
            return Reply(401, DEFAULT_BODIES[401])
        body = request.json()
        errors = validation_errors(body)
        if errors:
            return Reply(400, {"errors": errors})
        recipient = recipient_of(body) or ""
        args = custom_args(body)
        job_id = None if args.get("job_id") is None else str(args["job_id"])

        def accepted(delivery: Delivery, replayed: bool) -> Reply:
            self.bodies[delivery.message_id] = args
            return Reply(202, None, {"X-Message-Id": delivery.message_id}, message_id=delivery.message_id)

        def rate_limited(seconds: float) -> Reply:
            reset = int(now.timestamp() + seconds) + 1
            headers = {
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            }
            return Reply(429, DEFAULT_BODIES[429], headers)

        def forced(decision: Decision) -> Reply:
            rule = decision.forced
            assert rule is not None
            headers = dict(rule.headers)
            if rule.status == 429:
                headers.setdefault("X-RateLimit-Limit", "600")
                headers.setdefault("X-RateLimit-Remaining", "0")
                headers.setdefault("X-RateLimit-Reset", str(int(now.timestamp()) + rule.retry_after_seconds))
            body = (
                rule.body if rule.body is not None else DEFAULT_BODIES.get(rule.status, errors_body("error"))
            )
            return Reply(rule.status, body, headers)

        return decide_and_answer(
            account,
            account.decide(recipient, now),
            recipient=recipient,
            job_id=job_id,
            now=now,
            accepted=accepted,
            rate_limited=rate_limited,
            server_error=lambda: Reply(500, DEFAULT_BODIES[500]),
            forced=forced,
        )

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]:
        if not self.events_url:
            return []
        at = account.event_at(now)
        args = self.bodies.get(delivery.message_id, {})
        base = {
            "email": delivery.recipient,
            "timestamp": int(at.timestamp()),
            "sg_message_id": f"{delivery.message_id}.filterdrecv-1-2026",
            "smtp-id": f"<{delivery.message_id}@ismtpd0001p1>",
            **{key: value for key, value in args.items() if isinstance(value, str | int)},
        }
        kinds = [("processed", {})]
        if account.bounces(delivery.recipient):
            kinds.append(
                ("bounce", {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 user unknown"})
            )
        else:
            kinds.append(("delivered", {"response": "250 2.0.0 OK"}))
            if account.complains(delivery.recipient):
                kinds.append(("spamreport", {}))
        payload = [
            {
                **base,
                "event": kind,
                "sg_event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"{delivery.message_id}/{kind}").hex,
            }
            | extra
            for kind, extra in kinds
        ]
        body = json.dumps(payload).encode()
        return [
            Event(
                at, self.events_url, body, {"Content-Type": "application/json"}, kinds[-1][0], delivery.job_id
            )
        ]
