"""Twilio `POST /2010-04-01/Accounts/{Sid}/Messages.json` (HTTP basic auth, form-encoded): 201 with the
Message resource (`sid`, `status`, `num_segments` counted the way carriers do: GSM-7 or UCS-2); errors
`{"code", "message", "more_info", "status"}` (20003 auth, 21211 invalid To, 21602 no body, 21610 the
recipient replied STOP, 20429 too many requests). Status callbacks go to the message's `StatusCallback`,
signed with `X-Twilio-Signature` (HMAC-SHA1 of the URL and the sorted parameters, keyed by the auth
token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from simulator.providers.accounts import Account, Decision, Delivery
from simulator.providers.common import Event, Incoming, Reply, decide_and_answer, http_date, retry_after

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
GSM = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
MAX_BODY = 1600


def segments(text: str) -> tuple[str, int]:
    """The encoding a carrier would use and the number of SMS segments the text takes."""
    if all(char in GSM or char in GSM_EXTENDED for char in text):
        septets = sum(2 if char in GSM_EXTENDED else 1 for char in text)
        return "GSM", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS2", 1 if units <= 70 else math.ceil(units / 67)


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class TwilioFront:
    provider = "twilio"
    routes = ("/2010-04-01/Accounts/{sid}/Messages.json",)

    def __init__(self, account_sid: str, auth_token: str, opted_out: tuple[str, ...] = ()) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.opted_out = set(opted_out)
        self.messages: dict[str, dict[str, Any]] = {}

    def authorised(self, request: Incoming) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return (
            scheme.lower() == "basic"
            and hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
        )

    def handle(self, account: Account, request: Incoming, now: datetime) -> Reply:
        if not self.authorised(request) or f"/Accounts/{self.account_sid}/" not in request.path:
            return error(401, 20003, "Authenticate")
        form = dict(parse_qsl(request.body.decode(errors="replace"), keep_blank_values=True))
        to, sender, text = (
            form.get("To", ""),
            form.get("From") or form.get("MessagingServiceSid"),
            form.get("Body", ""),
        )
        if not E164.match(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if not text:
            return error(400, 21602, "Message body is required.")
        if len(text) > MAX_BODY:
            return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in self.opted_out:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        callback = form.get("StatusCallback", "")
        job_id = dict(parse_qsl(callback.partition("?")[2])).get("job_id") if callback else None
        encoding, count = segments(text)

        def accepted(delivery: Delivery, replayed: bool) -> Reply:
            sid = "SM" + delivery.message_id.ljust(32, "0")[:32]
            self.messages[delivery.message_id] = {"sid": sid, "to": to, "from": sender, "callback": callback}
            resource = {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": sender,
                "body": text,
                "status": "queued",
                "num_segments": str(count),
                "num_media": "0",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "date_created": http_date(now),
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
                "encoding": encoding,
            }
            return Reply(201, resource, message_id=sid)

        def forced(decision: Decision) -> Reply:
            rule = decision.forced
            assert rule is not None
            if rule.body:
                return Reply(rule.status, rule.body, dict(rule.headers))
            return error(rule.status, rule.status, "forced")

        return decide_and_answer(
            account,
            account.decide(to, now),
            recipient=to,
            job_id=job_id,
            now=now,
            accepted=accepted,
            rate_limited=lambda seconds: Reply(
                429, error(429, 20429, "Too Many Requests").body, {"Retry-After": retry_after(seconds)}
            ),
            server_error=lambda: error(500, 20500, "Internal Server Error"),
            forced=forced,
        )

    def events(self, account: Account, delivery: Delivery, now: datetime) -> list[Event]:
        sent = self.messages.get(delivery.message_id)
        if not sent or not sent["callback"]:
            return []
        events = []
        statuses = (
            [("sent", None), ("undelivered", "30005")]
            if account.bounces(delivery.recipient)
            else [
                ("sent", None),
                ("delivered", None),
            ]
        )
        at = account.event_at(now)
        for offset, (status, code) in enumerate(statuses):
            params = {
                "MessageSid": sent["sid"],
                "SmsSid": sent["sid"],
                "AccountSid": self.account_sid,
                "From": sent["from"],
                "To": sent["to"],
                "MessageStatus": status,
                "SmsStatus": status,
                "ApiVersion": "2010-04-01",
            }
            if code:
                params["ErrorCode"] = code
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature(self.auth_token, sent["callback"], params),
            }
            kind = {"sent": "processed", "delivered": "delivered"}.get(status, "failed")
            events.append(
                Event(
                    at + timedelta(seconds=offset),
                    sent["callback"],
                    urlencode(params).encode(),
                    headers,
                    kind,
                    delivery.job_id,
                )
            )
        return events
