"""Double opt-in: the confirm link in the confirmation message.

A GET shows a page with a button and changes nothing (mail scanners follow links; a signup confirmed by a
scanner is no consent); the button POSTs to the same address and confirms. A link past its expiry answers
410 with a page saying to sign up again; a link of an alert that was cancelled or purged answers 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from backinstock import links, tokens
from backinstock.store import subscriptions
from storefront.pages import message_page, not_found, page
from storefront.ratelimit import client_ip
from storefront.signed import BAD_LINK, EXPIRED_LINK, claims
from storefront.state import now_of, settings_of, store_of, user_agent

router = APIRouter()
SIGN_UP_AGAIN = "Sign up again on the product page to get a new confirmation."


def _expired_or_bad(request: Request, token: str) -> HTMLResponse:
    """A token that did not verify: expired (genuine, too late) or not ours at all."""
    try:
        tokens.verify(settings_of(request).token_keys, tokens.CONFIRM, token, now=now_of(request))
    except tokens.ExpiredToken:
        return message_page(410, "Link expired", f"{EXPIRED_LINK} {SIGN_UP_AGAIN}")
    except tokens.InvalidToken:
        pass
    return not_found(BAD_LINK)


@router.get("/confirm/{token}", response_model=None)
def confirm_page(token: str, request: Request) -> HTMLResponse:
    link = claims(request, tokens.CONFIRM, token)
    if link is None:
        return _expired_or_bad(request, token)
    with store_of(request).connect() as connection:
        subscription = subscriptions.get_subscription(connection, link.number)
    if subscription is None or subscription["shop"] != link.shop:
        return not_found("This alert no longer exists.")
    return page("confirm.html", shop=link.shop, action=request.url.path)


@router.post("/confirm/{token}", response_model=None)
async def confirm(token: str, request: Request) -> HTMLResponse:
    link = claims(request, tokens.CONFIRM, token)
    if link is None:
        return _expired_or_bad(request, token)
    await request.form()  # the button's form: read (and bounded by the limits) but it carries nothing
    outcome = await run_in_threadpool(_confirm, request, link)
    if outcome == subscriptions.EXPIRED:
        return message_page(410, "Link expired", f"{EXPIRED_LINK} {SIGN_UP_AGAIN}")
    if outcome == subscriptions.GONE:
        return not_found("This alert was cancelled. " + SIGN_UP_AGAIN)
    preferences = links.preferences_url(settings_of(request), link.shop, link.number)
    return page("confirmed.html", shop=link.shop, preferences=preferences)


def _confirm(request: Request, link: tokens.Claims) -> str:
    with store_of(request).begin() as connection:
        return subscriptions.confirm(
            connection,
            link.number,
            shop=link.shop,
            ip=client_ip(request, settings_of(request).storefront.trusted_proxies),
            user_agent=user_agent(request),
            now=now_of(request),
        )
