"""The storefront links our messages carry, signed for one purpose and one shop.

One place builds them, so the delivery engine (alerts), the confirmation email (outbox) and the storefront's
own pages agree on every route and token.
"""

from __future__ import annotations

from datetime import datetime

from backinstock import tokens
from backinstock.settings import Settings


def _url(settings: Settings, path: str, purpose: str, value: int, shop: str, **extra: object) -> str:
    token = tokens.sign(settings.token_keys, purpose, value, shop=shop, **extra)
    return f"{settings.storefront_url.rstrip('/')}/{path}/{token}"


def click_url(settings: Settings, shop: str, job_id: int) -> str:
    return _url(settings, "c", tokens.CLICK, job_id, shop)


def open_pixel_url(settings: Settings, shop: str, job_id: int) -> str:
    return _url(settings, "o", tokens.OPEN, job_id, shop) + ".gif"


def unsubscribe_url(settings: Settings, shop: str, subscription_id: int) -> str:
    """RFC 8058 one-click target (POST) and its confirmation page (GET)."""
    return _url(settings, "u", tokens.UNSUBSCRIBE, subscription_id, shop)


def preferences_url(settings: Settings, shop: str, subscription_id: int) -> str:
    """The page listing every alert of this subscription's contact at the shop, with cancel buttons."""
    return _url(settings, "p", tokens.PREFERENCES, subscription_id, shop)


def confirm_url(settings: Settings, shop: str, subscription_id: int, expires_at: datetime) -> str:
    """Double opt-in: the link that turns a pending subscription active, until it expires."""
    return _url(settings, "confirm", tokens.CONFIRM, subscription_id, shop, expires_at=expires_at)
