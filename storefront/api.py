"""JSON endpoints the shop's theme and web pixel call: signups and product views."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backinstock.store import catalog, subscriptions, tracking
from storefront.state import now_of, settings_of, store_of, user_agent
from storefront.validation import (
    EventRequest,
    FieldError,
    InvalidInput,
    SubscriptionRequest,
    event_errors,
    normalise_locale,
    subscription_errors,
)

DEFAULT_CONSENT_TEXT = "Email me once when this item is back in stock. I can unsubscribe at any time."
CONSENT_METHOD = "storefront_form"

router = APIRouter()


@router.post("/api/subscriptions")
def create_subscription(body: SubscriptionRequest, request: Request) -> JSONResponse:
    """201 with a new alert, 200 when the contact already has one active for the variant."""
    errors = subscription_errors(body, settings_of(request))
    if errors:
        raise InvalidInput(errors)
    now = now_of(request)
    shop = body.shop.lower()
    with store_of(request).begin() as connection:
        variant = catalog.find_variant(connection, shop, body.variant_id)
        if variant is None:
            raise InvalidInput([FieldError("variant_id", "unknown variant for this shop")])
        signup = subscriptions.subscribe(
            connection,
            shop=shop,
            variant_id=variant["variant_id"],
            product_id=variant["product_id"],
            channel=body.channel,
            contact=body.email,
            locale=normalise_locale(body.locale),
            client_id=body.client_id,
            consent=subscriptions.Consent(
                text=body.consent_text or DEFAULT_CONSENT_TEXT,
                method=CONSENT_METHOD,
                source=body.source_url,
                ip=request.client.host if request.client else None,
                user_agent=user_agent(request),
            ),
            now=now,
        )
    return JSONResponse(
        {"subscription_id": signup.subscription_id, "status": signup.status},
        status_code=201 if signup.created else 200,
    )


@router.post("/api/events", status_code=202)
def record_event(body: EventRequest, request: Request) -> dict[str, str]:
    """A `product_viewed` from the web pixel; the denominator of the signup rate."""
    errors = event_errors(body, settings_of(request))
    if errors:
        raise InvalidInput(errors)
    shop, variant_id = body.shop.lower(), catalog.variant_gid(body.variant_id)
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
