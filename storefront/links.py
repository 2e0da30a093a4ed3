"""The signed links inside messages: open pixel, click redirect, unsubscribe (RFC 8058 one-click).

Tokens are `backinstock.tokens` signatures (open/click carry the job id, unsubscribe the subscription id).
A bad open token still gets the GIF (a broken image helps nobody) but records nothing; a bad click or
unsubscribe token gets a 404 page. A GET never unsubscribes: link scanners follow GETs.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from backinstock import tokens
from backinstock.click_tokens import with_click_token
from backinstock.store import jobs, subscriptions, tracking
from backinstock.unsubscribes import Unsubscribe
from storefront import unsubscribing
from storefront.pages import message_page, not_found, page
from storefront.signed import BAD_LINK, claims
from storefront.state import now_of, store_of, user_agent

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
UTM = {"utm_source": "backinstock", "utm_medium": "email", "utm_campaign": "back_in_stock"}
ONE_CLICK = ("List-Unsubscribe", "One-Click")

router = APIRouter()


def with_utm(url: str) -> str:
    """The URL with our UTM parameters set (its other query parameters, like `variant`, kept)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in UTM]
    return urlunsplit(parts._replace(query=urlencode(query + list(UTM.items()))))


@router.get("/o/{token}.gif")
def open_pixel(token: str, request: Request) -> Response:
    link = claims(request, tokens.OPEN, token)
    if link is not None:
        with store_of(request).begin() as connection:
            tracking.record_job_event(
                connection,
                job_id=link.number,
                shop=link.shop,
                event_type=tracking.OPEN,
                url=None,
                user_agent=user_agent(request),
                now=now_of(request),
            )
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store, max-age=0"})


@router.get("/c/{token}", response_model=None)
def click(token: str, request: Request) -> Response:
    link = claims(request, tokens.CLICK, token)
    if link is None:
        return not_found(BAD_LINK)
    with store_of(request).begin() as connection:
        job = jobs.get_job(connection, link.number)
        if job is None or job["shop"] != link.shop:
            return not_found("This notification no longer exists.")
        # the click token rides along so the order can carry it back (backinstock.click_tokens)
        target = with_click_token(with_utm(job["context"]["product_url"]), token)
        tracking.record_job_event(
            connection,
            job_id=job["id"],
            shop=job["shop"],
            event_type=tracking.CLICK,
            url=target,
            user_agent=user_agent(request),
            now=now_of(request),
        )
    return RedirectResponse(target, status_code=302)


def _subscription(request: Request, token: str) -> dict | None:
    link = claims(request, tokens.UNSUBSCRIBE, token)
    if link is None:
        return None
    with store_of(request).connect() as connection:
        subscription = subscriptions.get_subscription(connection, link.number)
    return subscription if subscription is not None and subscription["shop"] == link.shop else None


@router.get("/u/{token}", response_model=None)
def unsubscribe_page(token: str, request: Request) -> Response:
    subscription = _subscription(request, token)
    if subscription is None:
        return not_found(BAD_LINK)
    return page("unsubscribe.html", shop=subscription["shop"], action=request.url.path)


async def _one_click(request: Request) -> bool:
    """True when the body says `List-Unsubscribe=One-Click` (form-encoded or multipart: RFC 8058)."""
    form = await request.form()
    return form.get(ONE_CLICK[0]) == ONE_CLICK[1]


@router.post("/u/{token}", response_model=None)
async def unsubscribe(token: str, request: Request) -> Response:
    """Cancel every live alert of the contact at the shop and suppress it; 200 with a page, no redirect.

    A busy store never loses it: after a bounded wait it is spooled and applied before the next send.
    """
    link = claims(request, tokens.UNSUBSCRIBE, token)
    if link is None:
        return not_found(BAD_LINK)
    if not await _one_click(request):
        return message_page(400, "Nothing changed", "Expected the form field List-Unsubscribe=One-Click.")
    request_ = Unsubscribe(shop=link.shop, subscription_id=link.number, at=now_of(request))
    if await unsubscribing.honour(request, request_) == unsubscribing.UNKNOWN:
        return not_found(BAD_LINK)
    return page("unsubscribed.html", shop=link.shop)
