"""A fake SendGrid v3 `POST /v3/mail/send`: the checks SendGrid makes, its answers, and forced failures.

Checks run in SendGrid's order: the API key (401), the body (400 `{"errors":[{"field","message"}]}`), then
any forced response that matches (a fault a test or scenario asked for), else 202 with `X-Message-Id`.
Forced responses are a small list consulted per call: each may be limited to one recipient and to a number
of calls, so per-recipient and per-call failures (429 with `X-RateLimit-Reset`, 500, 400 invalid email, 401)
need no new code.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
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


@dataclass
class ForcedResponse:
    """Answer `status` instead of accepting, for `calls` matching calls (None: every one)."""

    status: int
    recipient: str | None = None
    calls: int | None = 1
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: int = 60

    def matches(self, recipient: str) -> bool:
        return self.recipient is None or self.recipient.lower() == recipient


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]
    message_id: str | None = None


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


@dataclass
class SendGrid:
    api_key: str
    forced: list[ForcedResponse] = field(default_factory=list)
    accepted: int = 0

    def force(self, response: ForcedResponse) -> None:
        self.forced.append(response)

    def send(self, authorization: str | None, body: Any, now: datetime) -> Answer:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), self.api_key.encode()):
            return Answer(401, DEFAULT_BODIES[401], {})
        errors = validation_errors(body)
        if errors:
            return Answer(400, {"errors": errors}, {})
        recipient = recipient_of(body) or ""
        rule = next((rule for rule in self.forced if rule.matches(recipient)), None)
        if rule is not None:
            if rule.calls is not None:
                rule.calls -= 1
                if rule.calls <= 0:
                    self.forced.remove(rule)
            return self._forced_answer(rule, now)
        self.accepted += 1
        message_id = f"sim{self.accepted:06d}.{int(now.timestamp())}"
        return Answer(202, None, {"X-Message-Id": message_id}, message_id)

    @staticmethod
    def _forced_answer(rule: ForcedResponse, now: datetime) -> Answer:
        headers = dict(rule.headers)
        if rule.status == 429:
            reset = int(now.timestamp()) + rule.retry_after_seconds
            headers.setdefault("X-RateLimit-Limit", "600")
            headers.setdefault("X-RateLimit-Remaining", "0")
            headers.setdefault("X-RateLimit-Reset", str(reset))
        body = rule.body if rule.body is not None else DEFAULT_BODIES.get(rule.status, errors_body("error"))
        return Answer(rule.status, body, headers)
