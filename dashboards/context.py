"""Where a console request finds its settings, store and clock, and who it comes from."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from fastapi import Request

from backinstock.settings import Settings


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def store_of(request: Request) -> sa.Engine:
    return request.app.state.engine


def now_of(request: Request) -> datetime:
    """The instant of this request: the settings' clock, so the demo runs the console on simulated time."""
    return settings_of(request).clock().now()


def client_ip(request: Request) -> str:
    """Where an action came from, for the audit log (the peer address; no forwarded header is believed)."""
    return request.client.host if request.client else "unknown"
