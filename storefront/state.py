"""What a request handler needs from its app: settings, the store, this request's instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Engine

from backinstock.settings import Settings

Result = TypeVar("Result")


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def store_of(request: Request) -> Engine:
    return request.app.state.engine


async def in_store_thread(request: Request, function: Callable[..., Result], *arguments: Any) -> Result:
    """`function(*arguments)` on the app's store threads (storefront/store_threads.py)."""
    return await request.app.state.store_threads.run(function, *arguments)


def now_of(request: Request) -> datetime:
    """This request's instant: the configured clock (system time, or the demo's simulated time)."""
    return settings_of(request).clock().now()


def user_agent(request: Request) -> str | None:
    """The User-Agent as sent, printable characters only, at most 1,024 of them (the column's width)."""
    value = request.headers.get("user-agent")
    return None if value is None else "".join(char for char in value if char.isprintable())[:1024]
