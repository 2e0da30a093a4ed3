"""Message templates per shop, channel and locale: edit with a live preview on sample data (the SMS segment
count beside it), save versions, publish one; rendering errors shown inline. Every step calls the spine
(`backinstock.templates.load/preview/validate/save_version/versions/publish`), as the CLI and dispatch do.

The preview is a document of its own, shown in a sandboxed frame under a policy that runs no script at all:
a template may hold any markup, and a product title any text.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock import templates
from dashboards import auth
from dashboards.context import client_ip, now_of, settings_of, store_of
from dashboards.forms import given, refuse
from dashboards.web import TEMPLATES, NavItem, render

router = APIRouter()
NAV = [NavItem("edit_templates", "/templates", "Templates")]
PREVIEW_POLICY = "sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline'"
Source = Annotated[str, Form(max_length=templates.MAX_SOURCE_CHARS)]


def _key(request: Request, shop: str | None, channel: str | None, locale: str | None) -> dict[str, str]:
    """The shop, channel and locale asked for, checked: a configured shop, a known channel, a safe locale."""
    shops = [configured.domain for configured in settings_of(request).shops]
    shop = (given(shop) or (shops[0] if shops else "")).lower()
    channel = given(channel) or templates.EMAIL
    locale = given(locale) or templates.FALLBACK_LOCALE
    if shop not in shops:
        raise refuse(f"shop: {shop or 'none'} is not a shop this product serves")
    if channel not in templates.CHANNELS:
        raise refuse(f"channel: one of {', '.join(templates.CHANNELS)}")
    if not templates.SAFE_NAME.match(locale):
        raise refuse("locale: letters, digits, - and _ (en, de, pt-BR)")
    return {"shop": shop, "channel": channel, "locale": locale}


def _editor(
    request: Request,
    key: dict[str, str],
    *,
    draft: templates.TemplateSource | None = None,
    problems: list[str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with store_of(request).connect() as connection:
        current = templates.load(connection, **key)
        versions = templates.versions(connection, **key)
    return render(
        request,
        "templates.html",
        {
            "key": key,
            "shops": [configured.domain for configured in settings_of(request).shops],
            "channels": templates.CHANNELS,
            "current": current,
            "draft": draft or current,
            "versions": versions,
            "problems": problems or [],
            "notice": notice,
        },
        status_code=status_code,
        as_of=now_of(request),
    )


@router.get("/templates", response_class=HTMLResponse)
def templates_page(
    request: Request,
    _viewer: Annotated[auth.Viewer, Depends(auth.require("edit_templates"))],
    shop: str | None = None,
    channel: str | None = None,
    locale: str | None = None,
    saved: int | None = None,
    published: int | None = None,
) -> HTMLResponse:
    notice = None
    if saved:
        notice = f"Saved as version {saved}: publish it to send it."
    elif published:
        notice = f"Version {published} published: messages use it from now on."
    return _editor(request, _key(request, shop, channel, locale), notice=notice)


@router.post("/templates/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    _viewer: Annotated[auth.Viewer, Depends(auth.require("edit_templates"))],
    channel: Annotated[str, Form(max_length=16)],
    subject: Source = "",
    body_html: Source = "",
    body_text: Source = "",
) -> HTMLResponse:
    """The draft as a recipient would see it, on sample data; its problems instead when it has some."""
    if channel not in templates.CHANNELS:
        raise refuse(f"channel: one of {', '.join(templates.CHANNELS)}")
    draft = templates.TemplateSource(subject, body_html, body_text, "draft")
    problems = templates.validate(draft, channel)
    shown = None
    if not problems:
        try:
            shown = templates.preview(draft, channel)
        except templates.TemplateFailure as failure:
            problems = [str(failure)]
    page = TEMPLATES.get_template("template_preview.html").render(
        channel=channel, preview=shown, problems=problems
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": PREVIEW_POLICY})


@router.post("/templates/save")
def save(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("edit_templates"))],
    shop: Annotated[str, Form(max_length=255)],
    channel: Annotated[str, Form(max_length=16)],
    locale: Annotated[str, Form(max_length=64)],
    subject: Source = "",
    body_html: Source = "",
    body_text: Source = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    key = _key(request, shop, channel, locale)
    try:
        with store_of(request).begin() as connection:
            version = templates.save_version(
                connection, **key, subject=subject, body_html=body_html, body_text=body_text,
                actor=viewer.name, now=now_of(request), note=given(note), source=client_ip(request),
            )  # fmt: skip
    except templates.TemplateInvalid as invalid:
        draft = templates.TemplateSource(subject, body_html, body_text, "draft")
        return _editor(request, key, draft=draft, problems=invalid.problems, status_code=400)
    query = f"shop={key['shop']}&channel={key['channel']}&locale={key['locale']}"
    return RedirectResponse(f"/templates?{query}&saved={version}", status_code=303)


@router.post("/templates/publish")
def publish(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("edit_templates"))],
    shop: Annotated[str, Form(max_length=255)],
    channel: Annotated[str, Form(max_length=16)],
    locale: Annotated[str, Form(max_length=64)],
    version: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    key = _key(request, shop, channel, locale)
    try:
        with store_of(request).begin() as connection:
            templates.publish(
                connection, **key, version=version, actor=viewer.name, now=now_of(request),
                reason=given(reason), source=client_ip(request),
            )  # fmt: skip
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from None
    except templates.TemplateInvalid as invalid:
        return _editor(request, key, problems=invalid.problems, status_code=400)
    query = f"shop={key['shop']}&channel={key['channel']}&locale={key['locale']}"
    return RedirectResponse(f"/templates?{query}&published={version}", status_code=303)
