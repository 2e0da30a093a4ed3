"""Security headers on every console response.

The Content-Security-Policy allows scripts only from the console's own /static files (no inline script, no
eval, nothing from elsewhere), so markup that slips into a page (a product title, a consent field, a
template) cannot run. Inline styles are allowed: plotly sets them when it draws a chart. A response that
set its own policy (the sandboxed template preview) keeps it. Pages are never cached: they show contacts.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
HEADERS = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"SAMEORIGIN",
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=()",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = dict(HEADERS)
                added[b"content-security-policy"] = CONTENT_SECURITY_POLICY.encode()
                if not static:
                    added[b"cache-control"] = b"no-store"
                if https:
                    added[b"strict-transport-security"] = b"max-age=31536000"
                headers += [(name, value) for name, value in added.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
