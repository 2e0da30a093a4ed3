"""The console app: `create_app(settings)` builds it; `python -m dashboards` (and `backinstock serve`) run it.

It reads the operational store (opened and migrated at startup) and the published Parquet marts, and never
opens the warehouse. Each page module brings a `router` and its `NAV` entries; `PAGES` lists them, so adding
a page is one line here. Layers, outermost first: security headers on every response; then the routes, all
behind the app-wide CSRF check (`auth.csrf_protect`), each declaring the permission it needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from backinstock.settings import Settings, load_settings
from backinstock.store import open_store
from dashboards import (
    audit_page,
    auth,
    home,
    kpi_pages,
    queue_page,
    rules_page,
    sign_in,
    templates_page,
    trace_page,
    users_page,
)
from dashboards.headers import SecurityHeaders
from dashboards.web import NavItem, render

PAGES: tuple[ModuleType, ...] = (
    home,
    sign_in,
    kpi_pages,
    queue_page,
    trace_page,
    rules_page,
    templates_page,
    audit_page,
    users_page,
)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(auth.NotSignedIn)
    async def not_signed_in(request: Request, _error: auth.NotSignedIn) -> Response:
        if request.method in auth.SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/sign-in?next={quote(target, safe='')}", status_code=303)
        return render(request, "error.html", {"detail": "sign in first"}, status_code=401)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        response = render(request, "error.html", {"detail": error.detail}, status_code=error.status_code)
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, error: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc'][1:]) or 'request'}: {problem['msg']}"
            for problem in error.errors()
        ]
        return render(request, "error.html", {"detail": "; ".join(problems)}, status_code=400)


def create_app(settings: Settings | None = None, *, pages: tuple[ModuleType, ...] = PAGES) -> FastAPI:
    """The console on `settings` (read now when not given); the store is opened and migrated at startup."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = await run_in_threadpool(open_store, settings)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="Back in Stock console",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(auth.csrf_protect)],
    )
    app.state.settings = settings
    app.state.nav = [item for page in pages for item in getattr(page, "NAV", ())]
    _install_error_pages(app)
    for page in pages:
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    app.add_middleware(SecurityHeaders)
    return app


__all__ = ["PAGES", "NavItem", "create_app"]
