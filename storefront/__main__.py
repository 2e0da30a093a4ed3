"""`python -m storefront`: serve the storefront on settings.storefront_host:storefront_port."""

from __future__ import annotations

import uvicorn

from backinstock.settings import load_settings
from storefront.app import create_app


def main() -> None:
    settings = load_settings()
    uvicorn.run(create_app(settings), host=settings.storefront_host, port=settings.storefront_port)


if __name__ == "__main__":
    main()
