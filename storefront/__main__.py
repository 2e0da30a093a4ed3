"""`python -m storefront`: serve the storefront on settings.storefront_host:storefront_port."""

from __future__ import annotations

import uvicorn

from backinstock.settings import load_settings
from storefront.app import create_asgi
from storefront.logs import log_config


def main() -> None:
    settings = load_settings()
    uvicorn.run(
        create_asgi(settings),
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
