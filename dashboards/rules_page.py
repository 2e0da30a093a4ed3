"""Restock rules (shop defaults from the settings, overrides per shop, product and variant) and manual
releases of held targets. Changes go through `backinstock.rules.set_rule/clear_rule` and
`backinstock.releases.release_held_targets`, the functions the CLI calls: validated, with their history and
audit rows in one transaction, and in force for restocks decided from the next cycle on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock import releases, rules
from backinstock.store import releases as stored_releases
from backinstock.store import rules as stored_rules
from dashboards import auth
from dashboards.context import client_ip, now_of, settings_of, store_of
from dashboards.forms import given, refuse
from dashboards.web import NavItem, render

router = APIRouter()
NAV = [NavItem("view_queue", "/rules", "Rules")]
HISTORY_SHOWN = 50
NOTICES = {
    "set": "Rule set",
    "cleared": "Override cleared",
    "nothing": "There was no such override",
    "released": "Released",
}


def _configured_shop(request: Request, shop: str) -> str:
    """A shop this console serves (its settings name it), else a 400."""
    shop = shop.strip().lower()
    if settings_of(request).shop(shop) is None:
        raise refuse(f"shop: {shop or 'none'} is not a shop this product serves")
    return shop


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    _viewer: Annotated[auth.Viewer, Depends(auth.require("view_queue"))],
    shop: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    settings = settings_of(request)
    shops = [configured.domain for configured in settings.shops]
    shop = given(shop) or (shops[0] if shops else None)
    with store_of(request).connect() as connection:
        overrides = stored_rules.list_rules(connection, shop=shop) if shop else []
        history = stored_rules.rule_history(connection, shop=shop)[-HISTORY_SHOWN:][::-1] if shop else []
        released = stored_releases.list_releases(connection, shop=shop)[:HISTORY_SHOWN] if shop else []
    return render(
        request,
        "rules.html",
        {
            "shops": shops,
            "shop": shop,
            "defaults": rules.defaults(settings.detection),
            "overrides": overrides,
            "history": history,
            "releases": released,
            "names": rules.RULE_NAMES,
            "scopes": rules.SCOPES,
            "notice": NOTICES.get(done or ""),
        },
        as_of=now_of(request),
    )


@router.post("/rules/set")
def set_rule(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("edit_rules"))],
    shop: Annotated[str, Form(max_length=255)],
    name: Annotated[str, Form(max_length=64)],
    value: Annotated[str, Form(max_length=4000)],
    scope: Annotated[str, Form(max_length=16)] = "shop",
    scope_id: Annotated[str, Form(max_length=255)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    shop = _configured_shop(request, shop)
    try:
        with store_of(request).begin() as connection:
            rules.set_rule(
                connection, shop=shop, scope=scope, scope_id=given(scope_id), name=name, value=value.strip(),
                actor=viewer.name, now=now_of(request), source=client_ip(request), reason=given(reason),
            )  # fmt: skip
    except rules.RuleError as refused:
        raise refuse(refused) from None
    return RedirectResponse(f"/rules?shop={shop}&done=set", status_code=303)


@router.post("/rules/clear")
def clear_rule(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("edit_rules"))],
    shop: Annotated[str, Form(max_length=255)],
    name: Annotated[str, Form(max_length=64)],
    scope: Annotated[str, Form(max_length=16)] = "shop",
    scope_id: Annotated[str, Form(max_length=255)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    shop = _configured_shop(request, shop)
    try:
        with store_of(request).begin() as connection:
            cleared = rules.clear_rule(
                connection, shop=shop, scope=scope, scope_id=given(scope_id), name=name,
                actor=viewer.name, now=now_of(request), source=client_ip(request), reason=given(reason),
            )  # fmt: skip
    except rules.RuleError as refused:
        raise refuse(refused) from None
    return RedirectResponse(f"/rules?shop={shop}&done={'cleared' if cleared else 'nothing'}", status_code=303)


@router.post("/releases")
def release_held_targets(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("edit_rules"))],
    shop: Annotated[str, Form(max_length=255)],
    product_id: Annotated[str, Form(max_length=255)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    shop = _configured_shop(request, shop)
    try:
        with store_of(request).begin() as connection:
            releases.release_held_targets(
                connection, shop=shop, product_id=product_id, actor=viewer.name, now=now_of(request),
                source=client_ip(request), reason=given(reason),
            )  # fmt: skip
    except rules.RuleError as refused:
        raise refuse(refused) from None
    return RedirectResponse(f"/rules?shop={shop}&done=released", status_code=303)
