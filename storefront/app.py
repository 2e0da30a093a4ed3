"""The public storefront app: signups, product views, message links, Shopify webhooks.

It writes only to the operational store (opened and migrated on startup) and never opens the warehouse.
Every request takes its instant from `settings.clock()`, so the demo can run it on simulated time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from backinstock.settings import Settings, load_settings
from backinstock.store import open_store
from storefront import api, links, webhooks
from storefront.state import store_of
from storefront.validation import InvalidInput

LOCATION_PREFIXES = ("body", "query", "path", "header")


def field_name(location: tuple[object, ...]) -> str:
    """FastAPI's error location (`("body", "email")`) as the field the client sent (`email`)."""
    parts = list(location[1:] if location and location[0] in LOCATION_PREFIXES else location)
    # A union type adds the member's type (`variant_id.str`), a JSON syntax error the character offset:
    # the client only knows the top-level field, or the body as a whole.
    return parts[0] if parts and isinstance(parts[0], str) else "body"


def _errors(errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=422)


async def _invalid_input(_request: Request, error: InvalidInput) -> JSONResponse:
    return _errors([field.as_dict() for field in error.errors])


async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    unique = {}
    for item in error.errors():
        unique.setdefault(field_name(tuple(item["loc"])), item["msg"])
    return _errors([{"field": field, "message": message} for field, message in unique.items()])


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app on `settings` (read now when not given); the store is opened and migrated at startup."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = await run_in_threadpool(open_store, settings)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(title="Back in Stock storefront", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.include_router(api.router)
    app.include_router(links.router)
    app.include_router(webhooks.router)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, str]:
        _ping(store_of(request))
        return {"status": "ok"}

    return app
