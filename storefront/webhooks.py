"""Shopify webhooks: verified over the raw body before anything is parsed, stored once, answered fast.

Order of checks: the body's size (413 before it is read), the shop must be one we serve (its webhook secret
is the HMAC key), the HMAC must match (401 otherwise, nothing stored), then the headers we need must be
present, fit their columns and say a plausible time, and the body must be JSON (400 naming what is wrong).
Topics we do not use are acknowledged with 200 and not stored, so Shopify stops retrying them. Ingestion
happens later, in the cycle, from `webhook_inbox`. Privacy topics and `app/uninstalled` are acted on at once
(`backinstock.privacy`) and their bodies, which are personal data, are not kept in the inbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from backinstock import privacy
from backinstock.clock import parse_instant
from backinstock.store.inbox import store_webhook
from storefront.errors import FieldError, Refused, documented, refused
from storefront.state import now_of, settings_of, store_of

TOPICS = frozenset(
    {
        "inventory_levels/update",
        "inventory_levels/connect",
        "inventory_levels/disconnect",
        "variants/in_stock",
        "variants/out_of_stock",
        "products/update",
        "products/delete",
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "refunds/create",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
        "app/uninstalled",
    }
)

router = APIRouter()


def shopify_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verified(secret: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check of `X-Shopify-Hmac-Sha256` over the raw body bytes."""
    if not secret or not signature:
        return False
    return hmac.compare_digest(shopify_hmac(secret, body).encode(), signature.strip().encode())


HEADER_WIDTHS = {  # the inbox columns these headers are stored in
    "X-Shopify-Topic": 64,
    "X-Shopify-Webhook-Id": 128,
    "X-Shopify-Event-Id": 128,
    "X-Shopify-API-Version": 16,
}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SKEW = timedelta(days=1)


def header_errors(headers: Headers) -> list[FieldError]:
    """Headers we store that are wider than their columns or hold anything but printable ASCII."""
    errors = []
    for name, width in HEADER_WIDTHS.items():
        value = headers.get(name)
        if value is not None and (len(value) > width or not value.isascii() or not value.isprintable()):
            errors.append(FieldError(name, f"at most {width} printable ASCII characters"))
    return errors


def triggered_at(value: str | None, now: datetime) -> datetime | None:
    """`X-Shopify-Triggered-At` as an instant; ValueError when unreadable or not a plausible time."""
    if value is None:
        return None
    instant = parse_instant(value)
    if not EARLIEST <= instant <= now + FUTURE_SKEW:
        raise ValueError("outside the plausible range")
    return instant


@router.post("/webhooks/shopify", responses=documented(400, 401, 413, 503))
async def shopify_webhook(request: Request) -> JSONResponse:
    body = await request.body()
    headers = request.headers
    shop = settings_of(request).shop(headers.get("x-shopify-shop-domain", "")[:255])
    secret = shop.webhook_secret.get_secret_value() if shop else ""
    if shop is None or not verified(secret, body, headers.get("x-shopify-hmac-sha256")):
        raise refused(401, "X-Shopify-Hmac-Sha256", "webhook signature does not verify")
    topic, webhook_id = headers.get("x-shopify-topic"), headers.get("x-shopify-webhook-id")
    if not topic or not webhook_id:
        raise refused(400, "X-Shopify-Topic" if not topic else "X-Shopify-Webhook-Id", "required")
    errors = header_errors(headers)
    if errors:
        raise Refused(400, errors)
    if topic not in TOPICS:
        return JSONResponse({"stored": False, "reason": f"topic {topic} is not used"})
    try:
        triggered = triggered_at(headers.get("x-shopify-triggered-at"), now_of(request))
    except (ValueError, OverflowError):
        raise refused(
            400, "X-Shopify-Triggered-At", "not an ISO-8601 instant between 2000 and tomorrow"
        ) from None
    try:
        payload = body.decode("utf-8")
        parsed = json.loads(payload)
    except (ValueError, RecursionError):
        raise refused(400, "body", "not UTF-8 JSON") from None
    if topic in privacy.TOPICS:
        # Acted on at once and never stored raw: the body is personal data (backinstock.privacy).
        try:
            done = await run_in_threadpool(_privacy, request, shop.domain, topic, webhook_id, parsed)
        except privacy.BadPayload as error:
            raise refused(400, "body", str(error)) from None
        return JSONResponse({"stored": not done.get("duplicate", False)})
    new = await run_in_threadpool(
        _store,
        request,
        shop=shop.domain,
        topic=topic,
        webhook_id=webhook_id,
        event_id=headers.get("x-shopify-event-id"),
        api_version=headers.get("x-shopify-api-version"),
        triggered_at=triggered,
        payload=payload,
    )
    return JSONResponse({"stored": new})


def _privacy(request: Request, shop: str, topic: str, webhook_id: str, payload: object) -> dict:
    with store_of(request).begin() as connection:
        return privacy.receive(
            connection,
            settings_of(request),
            shop=shop,
            topic=topic,
            webhook_id=webhook_id,
            payload=payload,
            now=now_of(request),
        )


def _store(request: Request, **webhook: object) -> bool:
    with store_of(request).begin() as connection:
        return store_webhook(connection, now=now_of(request), **webhook)
