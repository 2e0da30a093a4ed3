"""`python -m storefront [--workers N]`: serve the storefront on settings.storefront_host:storefront_port.

With several workers (processes: one Python process uses one core at most), the store is migrated and the
rate limits emptied once here, before the workers start; they share the limits (`storefront.ratelimit`).
"""

from __future__ import annotations

import argparse

import uvicorn

from backinstock.settings import load_settings
from backinstock.store import open_store
from storefront.app import create_asgi
from storefront.errors import ContainErrors
from storefront.logs import log_config
from storefront.ratelimit import limits_file, reset


def worker_app() -> ContainErrors:
    """What each worker process serves (settings read in the worker, as the supervisor read them)."""
    return create_asgi(load_settings())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m storefront")
    parser.add_argument("--workers", type=int, default=1, help="processes serving the port (default 1)")
    workers = parser.parse_args().workers
    settings = load_settings()
    open_store(settings).dispose()
    reset(limits_file(settings.data_dir))
    uvicorn.run(
        "storefront.__main__:worker_app" if workers > 1 else create_asgi(settings),
        factory=workers > 1,
        workers=workers,
        host=settings.storefront_host,
        port=settings.storefront_port,
        log_config=log_config(),
        server_header=False,
        # Who the client is behind a proxy is decided by the app (`storefront.trusted_proxies`), not by
        # uvicorn, which would believe X-Forwarded-For from any local peer.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
