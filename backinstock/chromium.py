"""Debian's Chromium as every browser test and screenshot script starts it: the system browser (Playwright
downloads nothing), headless without sandbox or GPU (containers and CI have neither), and none of its
background traffic (updates, sync, first-run pages), so nothing leaves loopback."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def launch(playwright: Any, executable: str = CHROMIUM) -> Any:
    """A headless browser from a `sync_playwright()` context."""
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
