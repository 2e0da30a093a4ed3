"""The console served by a real uvicorn server on a loopback port, users in its store, and Debian's Chromium
driven by Playwright (nothing downloaded: `/usr/bin/chromium`, installed by `.ci/run`).

Console tests run on SQLite only: the queries under them are tested on both stores in tests/store.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from backinstock.clock import FileClock
from backinstock.settings import Settings, load_settings
from backinstock.store import users
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.tables import PERMISSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dispatch"))  # dispatch_harness: the fakes

from seed_rows import NOW, SHOP

from dashboards.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct horse battery staple"
ADMIN = "admin"  # every permission
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Console:
    url: str
    settings: Settings
    engine: sa.Engine
    clock: FileClock

    def add_user(self, name: str, permissions: list[str] | tuple[str, ...]) -> None:
        with self.engine.begin() as connection:
            users.add_user(
                connection, name=name, password=PASSWORD, permissions=permissions, actor="test", now=NOW
            )

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, follow_redirects=False)

    @contextmanager
    def signed_in(self, name: str) -> Iterator[httpx.Client]:
        """An HTTP client signed in as `name` through the sign-in form, as a browser would."""
        with self.client() as client:
            token = csrf_token(client.get("/sign-in").text)
            answer = client.post("/sign-in", data={"name": name, "password": PASSWORD, "csrf_token": token})
            assert answer.status_code == 303, answer.text
            yield client


def csrf_token(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(create_store_engine(url))
    return url


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The console app under uvicorn on a free loopback port, as `python -m dashboards` runs it."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=0, proxy_headers=False, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "console did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def start_console(settings: Settings) -> Iterator[Console]:
    """The console on `settings` (its store and clock file), with `admin` holding every permission."""
    assert settings.clock_file is not None
    engine = create_store_engine(settings.operational_store_url)
    running = Console(url="", settings=settings, engine=engine, clock=FileClock(settings.clock_file))
    running.add_user(ADMIN, PERMISSIONS)
    with serve(settings) as url:
        running.url = url
        yield running
    engine.dispose()


@pytest.fixture
def console(tmp_path: Path, store_url: str) -> Iterator[Console]:
    """The console on an empty migrated store, its clock at NOW."""
    clock = FileClock(tmp_path / "clock")
    clock.set(NOW)
    settings = load_settings(
        data_dir=tmp_path / "data",
        store_url=store_url,
        secret_key="test-secret-key",
        clock_file=clock.path,
        shops=[{"domain": SHOP, "access_token": "shpat_test", "webhook_secret": "whsec_test"}],
    )
    with start_console(settings) as running:
        yield running


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (Debian's; Playwright drives it, downloads nothing)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser context (no cookies) and page; what the Content-Security-Policy blocked and script
    errors are collected in `page.blocked`."""
    context = chromium.new_context()
    tab = context.new_page()
    tab.blocked = []
    tab.on(
        "console",
        lambda message: "Content Security Policy" in message.text and tab.blocked.append(message.text),
    )
    tab.on("pageerror", lambda error: tab.blocked.append(str(error)))
    yield tab
    context.close()


def sign_in(page, console: Console, name: str = ADMIN, path: str = "/") -> None:
    """Sign in through the form in the browser, landing on `path`."""
    page.goto(f"{console.url}/sign-in?next={path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console.url}{path}")
