"""The public storefront app: signups, product views, message links, Shopify webhooks.

It writes only to the operational store (opened and migrated on startup) and never opens the warehouse.
Every request takes its instant from `settings.clock()`, so the demo can run it on simulated time.

Layers, outermost first: errors that escape become a 500 in the documented shape (`errors.ContainErrors`);
CORS for the shops' origins (`cors`); body size and JSON depth limits before any route reads the body
(`limits`); then the routes, whose refusals share one JSON shape (`errors.install`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from backinstock.settings import Settings, load_settings
from backinstock.store import open_store
from storefront import (
    api,
    confirm,
    errors,
    links,
    preferences,
    provider_events,
    unsubscribing,
    webhooks,
)
from storefront.cors import ShopCors
from storefront.limits import RequestLimits
from storefront.ratelimit import RateLimiter, limits_file
from storefront.state import store_of
from storefront.store_threads import StoreThreads, thread_count


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app on `settings` (read now when not given); the store is opened and migrated at startup."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = await run_in_threadpool(open_store, settings)
        app.state.store_threads = StoreThreads(
            thread_count(settings.storefront.store_threads, app.state.engine.dialect.name)
        )
        try:
            async with unsubscribing.applying_spool(app):
                yield
        finally:
            await run_in_threadpool(app.state.store_threads.close)
            app.state.engine.dispose()
            app.state.limiter.close()

    app = FastAPI(title="Back in Stock storefront", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.limiter = RateLimiter(limits_file(settings.data_dir))  # shared by the workers
    unsubscribing.install(app)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api.proxied)
    app.include_router(links.router)
    app.include_router(confirm.router)
    app.include_router(preferences.router)
    app.include_router(webhooks.router)
    app.include_router(provider_events.router)

    @app.get("/healthz")
    def healthz(request: Request) -> dict[str, str]:
        _ping(store_of(request))
        return {"status": "ok"}

    app.add_middleware(RequestLimits, limits=settings.storefront)
    app.add_middleware(ShopCors, settings=settings)  # outermost: refusals of the limits carry CORS too
    return app


def create_asgi(settings: Settings | None = None) -> errors.ContainErrors:
    """What a server runs: the app inside the last line of defence against 5xx leaking messages."""
    return errors.ContainErrors(create_app(settings))
