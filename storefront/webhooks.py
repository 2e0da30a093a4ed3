"""Shopify webhooks: verified over the raw body before anything is parsed, stored once, answered fast.

Order of checks: the shop must be one we serve (its webhook secret is the HMAC key), the HMAC must match
(401 otherwise, nothing stored), then the headers we need must be present and the body must be JSON
(400 with the reason). Topics we do not use are acknowledged with 200 and not stored, so Shopify stops
retrying them. Ingestion happens later, in the cycle, from `webhook_inbox`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backinstock.clock import parse_instant
from backinstock.store.inbox import store_webhook
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


def _refuse(status_code: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status_code)


@router.post("/webhooks/shopify")
async def shopify_webhook(request: Request) -> JSONResponse:
    body = await request.body()
    headers = request.headers
    shop = settings_of(request).shop(headers.get("x-shopify-shop-domain", ""))
    secret = shop.webhook_secret.get_secret_value() if shop else ""
    if shop is None or not verified(secret, body, headers.get("x-shopify-hmac-sha256")):
        return _refuse(401, "webhook signature does not verify")
    topic, webhook_id = headers.get("x-shopify-topic"), headers.get("x-shopify-webhook-id")
    if not topic or not webhook_id:
        return _refuse(400, "X-Shopify-Topic and X-Shopify-Webhook-Id are required")
    if topic not in TOPICS:
        return JSONResponse({"stored": False, "reason": f"topic {topic} is not used"})
    try:
        triggered = headers.get("x-shopify-triggered-at")
        triggered_at = parse_instant(triggered) if triggered else None
    except ValueError:
        return _refuse(400, "X-Shopify-Triggered-At is not an ISO-8601 instant")
    try:
        payload = body.decode("utf-8")
        json.loads(payload)
    except ValueError:
        return _refuse(400, "body is not UTF-8 JSON")
    new = await run_in_threadpool(
        _store,
        request,
        shop=shop.domain,
        topic=topic,
        webhook_id=webhook_id,
        event_id=headers.get("x-shopify-event-id"),
        api_version=headers.get("x-shopify-api-version"),
        triggered_at=triggered_at,
        payload=payload,
    )
    return JSONResponse({"stored": new})


def _store(request: Request, **webhook: object) -> bool:
    with store_of(request).begin() as connection:
        return store_webhook(connection, now=now_of(request), **webhook)
