"""Provider event webhooks: what the providers tell us after they took a message, turned into the store's
provider events (delivered, bounced, complained, ...) carrying our job id.

`POST /webhooks/providers/{lane}/{token}`: the token is the lane's (`backinstock.provider_webhooks`), so
the URL authenticates the caller; Twilio's and Resend's own signatures are checked as well. Nothing is
stored from a request that does not verify (401) or cannot be read (400); errors have the storefront's one
shape, and bodies its webhook size limit (`storefront.limits`). Each provider's payload is read
by one function below: SendGrid's Event Webhook (a JSON array, our `custom_args` at the top level of each
event), Postmark's Delivery/Bounce/SpamComplaint webhooks (`Metadata`), SES events through an SNS
`Notification` (`mail.tags`), Twilio status callbacks (form fields; the job id in the callback URL's
query), Resend's Svix-signed webhooks (`data.tags`).

An SNS `SubscriptionConfirmation` is answered 200 and not stored: confirm the subscription in the AWS
console (its SubscribeURL is in the request), the product does not fetch URLs it is sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backinstock.clock import parse_instant
from backinstock.provider_webhooks import events_url, verified
from backinstock.settings import LaneSettings
from backinstock.store import provider_events
from backinstock.store.provider_events import ProviderEvent
from storefront.errors import documented, refused
from storefront.state import now_of, settings_of, store_of

SVIX_TOLERANCE_SECONDS = 300

router = APIRouter()


class Unreadable(ValueError):
    """The body is not what this provider sends."""


class Unverified(ValueError):
    """The provider's own signature does not match."""


def _job_id(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _instant(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return parse_instant(str(value))
    except ValueError:
        return fallback


def _event(lane: LaneSettings, kind: str, payload: Any, **fields: Any) -> ProviderEvent:
    return ProviderEvent(
        lane=lane.name, provider=lane.provider, event_type=kind, payload=json.dumps(payload), **fields
    )


SENDGRID_TYPES = {
    "processed": "processed",
    "deferred": "deferred",
    "delivered": "delivered",
    "bounce": "bounced",
    "dropped": "dropped",
    "spamreport": "complained",
}


def sendgrid(lane: LaneSettings, request: Request, body: bytes, now: datetime) -> list[ProviderEvent]:
    events = json.loads(body)
    if not isinstance(events, list):
        raise Unreadable("expected a JSON array of events")
    found = []
    for item in events:
        kind = SENDGRID_TYPES.get(str(item.get("event"))) if isinstance(item, dict) else None
        if kind is None:
            continue  # opens, clicks, unsubscribes: we track those ourselves
        found.append(
            _event(
                lane,
                kind,
                item,
                job_id=_job_id(item.get("job_id")),
                provider_message_id=str(item.get("sg_message_id") or "").split(".")[0] or None,
                recipient=item.get("email"),
                occurred_at=_instant(item.get("timestamp"), now),
                detail=item.get("reason") or item.get("response"),
                dedupe_key=str(item.get("sg_event_id") or f"{item.get('sg_message_id')}/{kind}"),
                permanent=kind == "bounced" and item.get("type", "bounce") == "bounce",
            )
        )
    return found


POSTMARK_TYPES = {"Delivery": "delivered", "Bounce": "bounced", "SpamComplaint": "complained"}
POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification", "Blocked"}


def postmark(lane: LaneSettings, request: Request, body: bytes, now: datetime) -> list[ProviderEvent]:
    item = json.loads(body)
    if not isinstance(item, dict) or "RecordType" not in item:
        raise Unreadable("expected a Postmark webhook with a RecordType")
    kind = POSTMARK_TYPES.get(item["RecordType"])
    if kind is None:
        return []
    return [
        _event(
            lane,
            kind,
            item,
            job_id=_job_id((item.get("Metadata") or {}).get("job_id")),
            provider_message_id=item.get("MessageID"),
            recipient=item.get("Recipient") or item.get("Email"),
            occurred_at=_instant(item.get("DeliveredAt") or item.get("BouncedAt"), now),
            detail=item.get("Description") or item.get("Details"),
            dedupe_key=f"{item['RecordType']}/{item.get('ID') or item.get('MessageID')}",
            permanent=kind == "bounced" and item.get("Type") in POSTMARK_HARD,
        )
    ]


SES_TYPES = {
    "Send": "processed",
    "Delivery": "delivered",
    "DeliveryDelay": "deferred",
    "Bounce": "bounced",
    "Complaint": "complained",
    "Reject": "dropped",
    "RenderingFailure": "failed",
}


def ses(lane: LaneSettings, request: Request, body: bytes, now: datetime) -> list[ProviderEvent]:
    envelope = json.loads(body)
    if not isinstance(envelope, dict) or "Type" not in envelope:
        raise Unreadable("expected an SNS message")
    if envelope["Type"] != "Notification":
        return []  # SubscriptionConfirmation and UnsubscribeConfirmation: see the module docstring
    event = json.loads(envelope.get("Message") or "{}")
    kind = SES_TYPES.get(str(event.get("eventType") or event.get("notificationType")))
    if kind is None:
        return []
    mail = event.get("mail") or {}
    tags = mail.get("tags") or {}
    bounce = event.get("bounce") or {}
    return [
        _event(
            lane,
            kind,
            event,
            job_id=_job_id((tags.get("job_id") or [None])[0]),
            provider_message_id=mail.get("messageId"),
            recipient=(mail.get("destination") or [None])[0],
            occurred_at=_instant(envelope.get("Timestamp"), now),
            detail=bounce.get("bounceSubType"),
            dedupe_key=str(envelope.get("MessageId")),
            permanent=bounce.get("bounceType") == "Permanent",
        )
    ]


TWILIO_TYPES = {
    "accepted": "processed",
    "queued": "processed",
    "sending": "processed",
    "sent": "processed",
    "delivered": "delivered",
    "undelivered": "bounced",
    "failed": "failed",
}
TWILIO_PERMANENT = {"30003", "30005", "30006"}  # unreachable, unknown destination, landline


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio(lane: LaneSettings, request: Request, body: bytes, now: datetime) -> list[ProviderEvent]:
    params = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    settings = settings_of(request)
    query = request.url.query
    url = events_url(settings.storefront_url, settings.signing_key, lane.name) + (
        f"?{query}" if query else ""
    )
    expected = twilio_signature(lane.auth_token.get_secret_value(), url, params)
    if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
        raise Unverified("X-Twilio-Signature does not match")
    kind = TWILIO_TYPES.get(params.get("MessageStatus", ""))
    if kind is None or not params.get("MessageSid"):
        return []
    return [
        _event(
            lane,
            kind,
            params,
            job_id=_job_id(request.query_params.get("job_id")),
            provider_message_id=params["MessageSid"],
            recipient=params.get("To"),
            occurred_at=now,
            detail=params.get("ErrorCode"),
            dedupe_key=f"{params['MessageSid']}/{params['MessageStatus']}",
            permanent=kind == "bounced" and params.get("ErrorCode") in TWILIO_PERMANENT,
        )
    ]


RESEND_TYPES = {
    "email.sent": "processed",
    "email.delivered": "delivered",
    "email.delivery_delayed": "deferred",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.failed": "failed",
}


def _svix_verified(secret: str, headers: Any, body: bytes, now: datetime) -> bool:
    message_id, timestamp = headers.get("svix-id", ""), headers.get("svix-timestamp", "")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        fresh = abs(now.timestamp() - int(timestamp)) <= SVIX_TOLERANCE_SECONDS
    except ValueError:
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [part.partition(",")[2] for part in headers.get("svix-signature", "").split()]
    return fresh and any(hmac.compare_digest(expected, value) for value in offered)


def resend(lane: LaneSettings, request: Request, body: bytes, now: datetime) -> list[ProviderEvent]:
    if not _svix_verified(lane.webhook_secret.get_secret_value(), request.headers, body, now):
        raise Unverified("svix-signature does not match (or is stale)")
    item = json.loads(body)
    kind = RESEND_TYPES.get(str(item.get("type"))) if isinstance(item, dict) else None
    if kind is None:
        return []
    data = item.get("data") or {}
    tags = data.get("tags") or {}
    if isinstance(tags, list):
        tags = {tag.get("name"): tag.get("value") for tag in tags if isinstance(tag, dict)}
    return [
        _event(
            lane,
            kind,
            item,
            job_id=_job_id(tags.get("job_id")),
            provider_message_id=data.get("email_id"),
            recipient=(data.get("to") or [None])[0],
            occurred_at=_instant(item.get("created_at"), now),
            detail=None,
            dedupe_key=request.headers.get("svix-id") or f"{data.get('email_id')}/{kind}",
            permanent=kind == "bounced",
        )
    ]


READERS: dict[str, Callable[[LaneSettings, Request, bytes, datetime], list[ProviderEvent]]] = {
    "sendgrid": sendgrid,
    "postmark": postmark,
    "ses": ses,
    "twilio": twilio,
    "resend": resend,
}


@router.post("/webhooks/providers/{lane_name}/{token}", responses=documented(400, 401, 404, 413, 503))
async def provider_webhook(lane_name: str, token: str, request: Request) -> JSONResponse:
    settings = settings_of(request)
    lane = settings.lane(lane_name)
    if lane is None or not verified(settings.signing_key, lane.name, token):
        raise refused(401, "signature", "unknown lane or token")
    reader = READERS.get(lane.provider)
    if reader is None:
        raise refused(404, None, f"{lane.provider} sends no event webhooks")
    body = await request.body()
    now = now_of(request)
    try:
        events = reader(lane, request, body, now)
    except Unverified as unverified:
        raise refused(401, "signature", str(unverified)) from unverified
    except (Unreadable, ValueError, TypeError, AttributeError, KeyError) as unreadable:
        raise refused(400, "body", f"not a {lane.provider} event webhook: {unreadable}") from unreadable
    stored = await run_in_threadpool(_store, request, events, now)
    return JSONResponse({"received": len(events), "stored": stored})


def _store(request: Request, events: list[ProviderEvent], now: datetime) -> int:
    with store_of(request).begin() as connection:
        return provider_events.record(connection, events, now)
