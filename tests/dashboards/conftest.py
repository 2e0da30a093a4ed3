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

from backinstock.chromium import CHROMIUM, launch
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
from orchestration.demo import DemoPlan, DemoWorld, play

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


# Set in the browser before the simulated run's first cycle: every restock it decides must carry it.
CHANGED_RULE = ("batch_interval_minutes", 90)
MARKETER = "marketer"  # view_kpis only
OPERATOR = "operator"  # everything but view_kpis


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory: pytest.TempPathFactory, chromium) -> Iterator[Console]:
    """Two simulated days of the small store (simulator, storefront, a Dagster cycle every 12 hours and the
    settle cycle; its first restock with targets comes late on day 1), with the console beside it on the
    run's store and published marts. Before the first cycle an operator sets
    CHANGED_RULE for the shop in the browser. Afterwards the console stays up, its clock where the run ended.
    Shared by every test that needs real data (one run per session: it takes minutes)."""
    data_dir = tmp_path_factory.mktemp("run") / "data"
    plan = DemoPlan(data_dir=data_dir, scenario="small", seed=11, days=2, cycle_hours=12)
    with DemoWorld(plan) as world:
        settings = load_settings(world.config_file)
        engine = create_store_engine(settings.operational_store_url)
        console = Console(url="", settings=settings, engine=engine, clock=FileClock(world.clock.path))
        console.add_user(ADMIN, PERMISSIONS)
        console.add_user(MARKETER, ["view_kpis"])
        console.add_user(OPERATOR, [name for name in PERMISSIONS if name != "view_kpis"])
        with serve(settings) as url:
            console.url = url
            context = chromium.new_context()
            try:
                page = context.new_page()
                sign_in(page, console, OPERATOR, "/rules")
                name, value = CHANGED_RULE
                page.locator("#set-rule select[name=name]").select_option(name)
                page.locator("#set-rule input[name=value]").fill(str(value))
                page.locator("#set-rule input[name=reason]").fill("slower batches")
                page.locator("#set-rule button").click()
                page.wait_for_url(re.compile(r"/rules\?.*done=set"))
            finally:
                context.close()
            play(world, progress=lambda line: None)
            yield console
    engine.dispose()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (Debian's; Playwright drives it, downloads nothing)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
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
