"""The shoppers' side of the product's storefront: its public routes, called over one pooled HTTP client.

The simulator stands where a CDN or Shopify's App Proxy would: each shopper's own address travels in
X-Forwarded-For (the product trusts it from loopback only when configured to).

Calls go through a synchronous httpx client in a worker thread: the event loop stays free to serve the
product meanwhile (it may call the Admin API while answering a shopper), and each call costs less than on
httpx's async stack. Every call answers (status, JSON body or None, redirect location or None); a storefront
that cannot be reached answers status None, so the world logs the failure and plays on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Reply:
    status: int | None
    body: Any = None
    location: str | None = None
    error: str | None = None


class Storefront:
    def __init__(self, base_url: str, shop_domain: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.shop_domain = shop_domain
        self.http = http

    async def view(self, ip: str, client_id: str, variant_gid: str, product_gid: str) -> Reply:
        body = {
            "shop": self.shop_domain,
            "name": "product_viewed",
            "client_id": client_id,
            "variant_id": variant_gid,
            "product_id": product_gid,
        }
        return await self._call("POST", f"{self.base_url}/api/events", ip, json=body)

    async def subscribe(
        self, ip: str, email: str, client_id: str, variant_gid: str, source_url: str
    ) -> Reply:
        body = {
            "shop": self.shop_domain,
            "variant_id": variant_gid,
            "email": email,
            "channel": "email",
            "locale": "en",
            "client_id": client_id,
            "source_url": source_url,
        }
        return await self._call("POST", f"{self.base_url}/api/subscriptions", ip, json=body)

    async def fetch(self, ip: str, url: str) -> Reply:
        """A GET that does not follow redirects: an open pixel, or a click link (answered 302)."""
        return await self._call("GET", url, ip)

    async def unsubscribe(self, ip: str, url: str) -> Reply:
        """RFC 8058 one-click: what a mail client POSTs to the List-Unsubscribe URL."""
        return await self._call("POST", url, ip, data={"List-Unsubscribe": "One-Click"})

    async def confirm(self, ip: str, url: str) -> Reply:
        """Double opt-in as a person does it: open the link (a page with a button), then press the button
        (a POST to the same address)."""
        page = await self._call("GET", url, ip)
        if page.status != 200:
            return page
        return await self._call("POST", url, ip, data={"confirm": "yes"})

    async def deliver_webhook(self, body: bytes, headers: dict[str, str]) -> Reply:
        """Shopify calls the product directly: no forwarded address."""
        return await self._call(
            "POST", f"{self.base_url}/webhooks/shopify", None, content=body, headers=headers
        )

    async def post_raw(self, url: str, body: bytes, headers: dict[str, str]) -> Reply:
        """A provider's event webhook, posted as the provider would (from its own servers)."""
        return await self._call("POST", url, None, content=body, headers=headers)

    async def _call(self, method: str, url: str, ip: str | None, **options: Any) -> Reply:
        if ip is not None:
            options["headers"] = {**options.get("headers", {}), "X-Forwarded-For": ip}
        try:
            response = await asyncio.to_thread(
                self.http.request, method, url, follow_redirects=False, **options
            )
        except httpx.HTTPError as problem:
            return Reply(None, error=f"{type(problem).__name__}: {problem}")
        try:
            body = response.json()
        except ValueError:
            body = None
        return Reply(response.status_code, body, response.headers.get("location"))
