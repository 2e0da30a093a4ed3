"""Small server-rendered pages: autoescaped Jinja2 templates in storefront/templates."""

from __future__ import annotations

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader

_PAGES = Environment(loader=PackageLoader("storefront", "templates"), autoescape=True)


def page(name: str, status_code: int = 200, **variables: object) -> HTMLResponse:
    return HTMLResponse(_PAGES.get_template(name).render(**variables), status_code=status_code)


def message_page(status_code: int, heading: str, message: str) -> HTMLResponse:
    return page("message.html", status_code, heading=heading, message=message)


def not_found(message: str) -> HTMLResponse:
    return message_page(404, "Link not valid", message)
