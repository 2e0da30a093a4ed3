"""Request size and JSON depth limits, enforced before any route reads the body.

- A declared `Content-Length` above the route's limit is answered 413 at once: the body is never read.
- A body without a declared length is counted as it arrives and cut off at the limit (413).
- A JSON body of the public API is parsed once here and refused (400) when it nests deeper than allowed;
  Python's parser would otherwise recurse until it fails.
Limits: the JSON API (`/api/...`, `/proxy/api/...`), Shopify webhooks (large order payloads), and the
forms of the pages people open from messages.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backinstock.settings import StorefrontSettings
from storefront.errors import FieldError, error_response

API_PREFIXES = ("/api/", "/proxy/api/")
WEBHOOK_PREFIX = "/webhooks/"


class BodyTooLarge(Exception):
    pass


def json_depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0, `[]` is 1), without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class RequestLimits:
    def __init__(self, app: ASGIApp, limits: StorefrontSettings) -> None:
        self.app = app
        self.limits = limits

    def limit_for(self, path: str) -> int:
        if path.startswith(API_PREFIXES):
            return self.limits.max_json_bytes
        if path.startswith(WEBHOOK_PREFIX):
            return self.limits.max_webhook_bytes
        return self.limits.max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(scope, receive, send, 400, "Content-Length", "not a number of bytes")
                return
            if int(declared) > limit:
                await _answer(scope, receive, send, 413, "body", f"larger than {limit} bytes")
                return
        counted = _counting(receive, limit)
        if scope["path"].startswith(API_PREFIXES) and scope["method"] == "POST":
            try:
                body = await _read_all(counted)
            except BodyTooLarge:
                await _answer(scope, receive, send, 413, "body", f"larger than {limit} bytes")
                return
            if _too_deep(body, self.limits.max_json_depth):
                message = f"JSON nested deeper than {self.limits.max_json_depth} levels"
                await _answer(scope, receive, send, 400, "body", message)
                return
            counted = _replay(body, receive)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge:
            if not started:
                await _answer(scope, receive, send, 413, "body", f"larger than {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return counted


async def _read_all(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read here, then the connection's own messages (a disconnect, when it comes)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _too_deep(body: bytes, max_depth: int) -> bool:
    """True when the body is JSON nested deeper than allowed; a body that is not JSON is the route's
    business (it answers 422 naming the body)."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    try:
        return json_depth(json.loads(body)) > max_depth
    except RecursionError:
        return True
    except ValueError:
        return False


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, field: str, message: str) -> None:
    headers = {"Connection": "close"} if status == 413 else None
    await error_response(status, [FieldError(field, message)], headers)(scope, receive, send)
