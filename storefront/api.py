"""JSON endpoints the shop's theme and web pixel call: the consent text, signups and product views.

The same routes answer directly (`/api/...`, CORS limited to the shop's origins) and through Shopify's App
Proxy (`/proxy/api/...`, signature verified, the signed shop is the shop). Every call is counted against
the caller's IP, and signups also against the contact and the shop (429 with Retry-After).

A signup is answered the same way whatever happened to it (a new alert, one that existed, a contact that
may not be signed up, a bot caught by the honeypot): 202 `{"status": "accepted", "double_opt_in": ...}`,
where `double_opt_in` is the shop's setting, so the answer tells nothing about the address.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backinstock import consent
from backinstock.store import catalog, consent_texts, signup_facts, subscriptions, tracking
from storefront.cors import origin_error
from storefront.errors import FieldError, InvalidInput, documented, refused
from storefront.proxy import app_proxy, proxied_shop
from storefront.ratelimit import client_ip
from storefront.state import in_store_thread, now_of, settings_of, store_of, user_agent
from storefront.validation import (
    CHANNELS,
    LOCALE_SHAPE,
    EventRequest,
    SubscriptionRequest,
    checked_subscription,
    event_errors,
    normalise_locale,
)

CONSENT_METHOD = "storefront_form"
UNINSTALLED_SHOP = "this shop has uninstalled the app: it takes no alerts"
ERRORS = documented(400, 401, 403, 413, 422, 429, 503)

router = APIRouter()


def _acting_shop(request: Request, claimed: str | None) -> str | None:
    """The shop the call acts for: the signed one through the App Proxy (a different claim is refused),
    else the one the body names, which a browser may only claim from that shop's own origins."""
    signed = proxied_shop(request)
    if signed is not None:
        if claimed is not None and claimed.lower() != signed:
            raise InvalidInput([FieldError("shop", "differs from the shop the proxy signed")])
        return signed
    if claimed is not None:
        error = origin_error(request, settings_of(request), claimed)
        if error is not None:
            raise refused(403, error.field, error.message)
    return None if claimed is None else claimed.lower()


def _limit(request: Request, checks: list) -> None:
    request.app.state.limiter.check(checks, now_of(request).timestamp())


def _ip(request: Request) -> str:
    return client_ip(request, settings_of(request).storefront.trusted_proxies)


def _accepted(request: Request, shop: str) -> JSONResponse:
    known = settings_of(request).shop(shop)
    return JSONResponse({"status": "accepted", "double_opt_in": bool(known and known.double_opt_in)}, 202)


@router.get("/api/consent", responses=ERRORS)
def consent_text(
    request: Request,
    shop: str | None = Query(default=None, max_length=255),
    channel: str = Query(default="email", max_length=16),
    locale: str = Query(default="en", max_length=16),
) -> dict[str, object]:
    """The consent text to show beside the signup form, and its version (send it back with the signup)."""
    settings = settings_of(request)
    _limit(request, [("events per IP", _ip(request), settings.storefront.events_per_ip)])
    shop = _acting_shop(request, shop)
    errors = []
    if shop is None or settings.shop(shop) is None:
        errors.append(FieldError("shop", "unknown shop"))
    if channel not in CHANNELS:
        errors.append(FieldError("channel", f"must be one of: {', '.join(CHANNELS)}"))
    if not LOCALE_SHAPE.match(locale):
        errors.append(FieldError("locale", "must look like a language tag, e.g. en or pt-BR"))
    if errors:
        raise InvalidInput(errors)
    with store_of(request).begin() as connection:
        text = consent_texts.current_text(
            connection, shop=shop, channel=channel, locale=normalise_locale(locale), now=now_of(request)
        )
    return {"version": text.version_id, "locale": text.locale, "text": text.text}


@router.post("/api/subscriptions", status_code=202, responses=ERRORS)
async def create_subscription(body: SubscriptionRequest, request: Request) -> JSONResponse:
    """Ask for an alert; answered 202 alike whatever became of it (see the module docstring). Checked
    on the event loop; the store work runs on the store threads."""
    settings = settings_of(request)
    limits = settings.storefront
    _limit(request, [("signups per IP", _ip(request), limits.signups_per_ip)])
    body.shop = _acting_shop(request, body.shop)
    contact, errors = checked_subscription(body, settings)
    if errors:
        raise InvalidInput(errors)
    if body.website:  # the honeypot: answered like a signup, nothing stored
        return _accepted(request, body.shop)
    _limit(
        request,
        [
            ("signups per contact", f"{body.shop}|{contact}", limits.signups_per_contact),
            ("signups per shop", body.shop, limits.signups_per_shop),
        ],
    )
    await in_store_thread(request, _sign_up, request, body, contact, now_of(request))
    return _accepted(request, body.shop)


def _sign_up(request: Request, body: SubscriptionRequest, contact: str, now: datetime) -> None:
    locale = normalise_locale(body.locale)
    with store_of(request).begin() as connection:
        facts = signup_facts.signup_facts(
            connection,
            shop=body.shop,
            variant_id=body.variant_id,
            channel=body.channel,
            contact=subscriptions.normalise_contact(body.channel, contact),
            locale=locale,
            consent_version=body.consent_version,
        )
        if facts.uninstalled:
            raise InvalidInput([FieldError("shop", UNINSTALLED_SHOP)])
        if facts.product_id is None:
            raise InvalidInput([FieldError("variant_id", "unknown variant for this shop")])
        shown = facts.shown
        if shown is None and body.consent_version is not None:
            raise InvalidInput([FieldError("consent_version", "not a consent text of this shop")])
        if shown is None:  # the shop's first signup: its shipped default is stored as a version
            shown = consent_texts.current_text(
                connection, shop=body.shop, channel=body.channel, locale=locale, now=now
            )
        consent.sign_up(
            connection,
            settings_of(request),
            shop=body.shop,
            variant_id=facts.variant_id,
            product_id=facts.product_id,
            channel=body.channel,
            contact=contact,
            locale=locale,
            client_id=body.client_id,
            consent=subscriptions.Consent(
                text=shown.text,
                method=CONSENT_METHOD,
                source=body.source_url,
                ip=_ip(request),
                user_agent=user_agent(request),
                version_id=shown.version_id,
            ),
            now=now,
            suppression=facts.suppression,
        )


@router.post("/api/events", status_code=202, responses=ERRORS)
def record_event(body: EventRequest, request: Request) -> dict[str, str]:
    """A `product_viewed` from the web pixel; the denominator of the signup rate."""
    settings = settings_of(request)
    _limit(request, [("events per IP", _ip(request), settings.storefront.events_per_ip)])
    body.shop = _acting_shop(request, body.shop)
    errors = event_errors(body, settings)
    if errors:
        raise InvalidInput(errors)
    _limit(request, [("events per shop", body.shop, settings.storefront.events_per_shop)])
    shop, variant_id = body.shop, catalog.variant_gid(body.variant_id)
    with store_of(request).begin() as connection:
        product_id = None if body.product_id is None else catalog.product_gid(body.product_id)
        if product_id is None:
            variant = catalog.find_variant(connection, shop, variant_id)
            product_id = None if variant is None else variant["product_id"]
        tracking.record_product_view(
            connection,
            shop=shop,
            client_id=body.client_id,
            variant_id=variant_id,
            product_id=product_id,
            url=body.url,
            user_agent=user_agent(request),
            now=now_of(request),
        )
    return {"status": "accepted"}


proxied = APIRouter(prefix="/proxy", dependencies=[Depends(app_proxy)])
proxied.include_router(router)
