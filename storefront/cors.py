"""CORS for the JSON API, limited to the shops' own storefront origins.

A shop's theme calls `/api/...` from `https://{shop domain}` or one of the shop's configured custom-domain
origins. Preflights from those origins are allowed (POST, Content-Type); any other origin is refused (403)
and gets no CORS headers, so the browser blocks the call. An allowed origin may still only act for its own
shop: the routes check that pairing (`origin_error`) once they know the shop.
Requests through Shopify's App Proxy come from the shop's own domain and need none of this.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backinstock.settings import Settings
from storefront.errors import FieldError, error_response

CORS_PREFIX = "/api/"
MAX_AGE_SECONDS = 600


def allowed_origins(settings: Settings) -> frozenset[str]:
    return frozenset(origin for shop in settings.shops for origin in shop.origins)


def origin_error(request: Request, settings: Settings, shop: str) -> FieldError | None:
    """A browser call from an origin that is not this shop's own is refused."""
    origin = request.headers.get("origin")
    known = settings.shop(shop)
    if origin is None or known is None or origin.lower() in known.origins:
        return None
    return FieldError("Origin", "this origin may not call the API for this shop")


class ShopCors:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.origins = allowed_origins(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(CORS_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {key: value.decode("latin-1") for key, value in scope["headers"]}
        origin = headers.get(b"origin")
        allowed = origin is not None and origin.lower() in self.origins
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            response = (
                _preflight(origin)
                if allowed
                else error_response(403, [FieldError("Origin", "origin not allowed")])
            )
            await response(scope, receive, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin"),
                ]
            await send(message)

        await self.app(scope, receive, with_cors)


def _preflight(origin: str) -> Response:
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, GET",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            "Vary": "Origin",
        },
    )
