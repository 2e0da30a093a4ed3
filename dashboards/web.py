"""The page renderer every console page shares.

Pages are Jinja2 templates under dashboards/templates, autoescaped; `base.html` lays out the navigation (only
the pages the viewer may open), the sign-out form and the `as_of` of the data shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from backinstock.clock import format_instant
from dashboards import auth

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
TEMPLATES.env.filters["instant"] = lambda value: format_instant(value) if value else ""


@dataclass(frozen=True)
class NavItem:
    """A link in the navigation, shown to viewers holding `permission`."""

    permission: str
    path: str
    label: str


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    as_of: datetime | None = None,
) -> HTMLResponse:
    """A page in the layout, with the viewer, its CSRF token and navigation, and the data's `as_of`."""
    viewer = auth.viewer_of(request)
    nav = [item for item in request.app.state.nav if viewer is not None and viewer.may(item.permission)]
    values = {
        "viewer": viewer,
        "csrf_token": auth.csrf_token_for(request),
        "nav": nav,
        "as_of": as_of,
        "path": request.url.path,
    }
    return TEMPLATES.TemplateResponse(request, template, values | (context or {}), status_code=status_code)
