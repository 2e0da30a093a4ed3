"""`python -m dashboards`: serve the console on settings.dashboards.host:port."""

from __future__ import annotations

import uvicorn

from backinstock.settings import load_settings
from dashboards.app import create_app


def main() -> None:
    settings = load_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.dashboards.host,
        port=settings.dashboards.port,
        server_header=False,
        proxy_headers=False,  # the audit log's "from where" is the peer, never a header anyone can send
    )


if __name__ == "__main__":
    main()
