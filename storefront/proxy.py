"""Shopify App Proxy: the theme calls `https://{shop}/apps/<prefix>/api/...`, Shopify forwards it to
`/proxy/api/...` here with `shop`, `logged_in_customer_id`, `path_prefix`, `timestamp` and `signature`
added to the query string.

The signature is hex HMAC-SHA256, keyed with the app's client secret (the shop's `webhook_secret`), over
the other query parameters sorted by name and written `name=value` back to back (values of a repeated
name joined by commas). A request through the proxy is believed only when its signature verifies and its
timestamp is within the allowed skew of now (a replayed request is refused); then the signed `shop` is the
shop it acts for.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable

from fastapi import Request

from backinstock.settings import Settings
from storefront.errors import refused
from storefront.state import now_of, settings_of

SIGNATURE = "signature"


def proxy_message(parameters: Iterable[tuple[str, str]]) -> str:
    """What Shopify signs: every parameter but the signature, sorted by name, `name=value` concatenated."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for name, value in parameters:
        if name != SIGNATURE:
            grouped[name].append(value)
    return "".join(f"{name}={','.join(values)}" for name, values in sorted(grouped.items()))


def proxy_signature(secret: str, parameters: Iterable[tuple[str, str]]) -> str:
    return hmac.new(secret.encode(), proxy_message(parameters).encode(), hashlib.sha256).hexdigest()


def verified_shop(settings: Settings, parameters: list[tuple[str, str]], now_epoch: float) -> str:
    """The shop a proxied request was signed for; a 401 otherwise."""
    values = dict(parameters)
    shop = settings.shop(values.get("shop", ""))
    signature = values.get(SIGNATURE, "")
    secret = shop.webhook_secret.get_secret_value() if shop else ""
    expected = proxy_signature(secret, parameters) if secret else ""
    if not expected or not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise refused(401, SIGNATURE, "app proxy signature does not verify")
    timestamp = values.get("timestamp", "")
    skew = settings.storefront.app_proxy_max_skew_seconds
    if not timestamp.isdigit() or len(timestamp) > 12 or abs(now_epoch - int(timestamp)) > skew:
        raise refused(401, "timestamp", f"app proxy timestamp is more than {skew} s from now")
    return shop.domain


async def app_proxy(request: Request) -> None:
    """Route dependency of `/proxy/...`: verify, then remember which shop the request acts for."""
    parameters = request.query_params.multi_items()
    request.state.proxy_shop = verified_shop(settings_of(request), parameters, now_of(request).timestamp())


def proxied_shop(request: Request) -> str | None:
    """The verified shop of a request through the App Proxy, None for a direct call."""
    return getattr(request.state, "proxy_shop", None)
