"""The preferences page: a person's alerts at a shop, each with a cancel button, and a button to stop all.

Reached by a signed link (purpose `preferences`, carrying one of the person's subscriptions): whoever holds
it may see and cancel that contact's alerts at that shop, nothing else. Cancelling one alert suppresses
nothing; "stop all" is the same as the one-click unsubscribe.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock import links, tokens
from backinstock.store import subscriptions
from storefront.pages import message_page, not_found, page
from storefront.signed import BAD_LINK, claims
from storefront.state import now_of, settings_of, store_of

router = APIRouter()


def _owner(request: Request, token: str) -> dict | None:
    """The subscription the link was made for (its contact is the person), when the link is good."""
    link = claims(request, tokens.PREFERENCES, token)
    if link is None:
        return None
    with store_of(request).connect() as connection:
        subscription = subscriptions.get_subscription(connection, link.number)
    return subscription if subscription is not None and subscription["shop"] == link.shop else None


@router.get("/p/{token}", response_model=None)
def preferences(token: str, request: Request) -> HTMLResponse:
    owner = _owner(request, token)
    if owner is None:
        return not_found(BAD_LINK)
    with store_of(request).connect() as connection:
        alerts = subscriptions.alerts_of_contact(
            connection, shop=owner["shop"], channel=owner["channel"], contact=owner["contact"]
        )
    stop_all = urlsplit(links.unsubscribe_url(settings_of(request), owner["shop"], owner["id"])).path
    return page(
        "preferences.html", shop=owner["shop"], alerts=alerts, action=request.url.path, stop_all=stop_all
    )


@router.post("/p/{token}/cancel", response_model=None)
async def cancel(token: str, request: Request) -> Response:
    """Cancel the alert named by the form's `subscription_id`; back to the list (303, a GET)."""
    owner = await run_in_threadpool(_owner, request, token)
    if owner is None:
        return not_found(BAD_LINK)
    chosen = (await request.form()).get("subscription_id", "")
    if not isinstance(chosen, str) or not chosen.isdigit() or len(chosen) > 12:
        return message_page(400, "Nothing changed", "Choose an alert to cancel.")
    await run_in_threadpool(_cancel, request, owner, int(chosen))
    return RedirectResponse(request.url.path.removesuffix("/cancel"), status_code=303)


def _cancel(request: Request, owner: dict, subscription_id: int) -> bool:
    with store_of(request).begin() as connection:
        return subscriptions.cancel_alert(
            connection,
            subscription_id,
            shop=owner["shop"],
            channel=owner["channel"],
            contact=owner["contact"],
            now=now_of(request),
        )
