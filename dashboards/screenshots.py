"""Screenshots of every console page on a demo's data, for the docs: `python -m dashboards.screenshots`.

Run `make demo` first (or `backinstock demo --data-dir D`). The script copies the demo's SQLite store aside
(the demo's own store is left as it was), adds a user holding every permission to the copy, serves the
console on a loopback port over the copy and the demo's published marts, signs in with Debian's Chromium
(Playwright; nothing downloaded) and saves one full-page PNG per page of the navigation, the sign-in form,
and the trace of a restock event and of a job, under docs/screenshots/.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from backinstock.chromium import launch
from backinstock.settings import Settings, load_settings
from backinstock.store import users
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import PERMISSIONS
from dashboards.app import create_app

VIEWPORT = {"width": 1360, "height": 900}
USER = "screenshots"


def file_name(path: str) -> str:
    """/waiting-demand -> waiting-demand.png; / -> home.png; /trace?restock_event=... ->
    trace-restock-event.png; /trace/jobs/12 -> trace-job.png."""
    path = re.sub(r"=.*$", "", re.sub(r"/\d+$", "", path)).replace("jobs", "job")
    return (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home") + ".png"


@contextmanager
def console_over_copy(config: Path, work: Path) -> Iterator[tuple[str, Settings, str, list[str]]]:
    """The console on a copy of the demo's store (with the screenshot user in it) and its marts: its URL,
    settings, the user's password and the paths to show (the navigation's, then a trace and a job)."""
    demo = load_settings(config)
    store = Path(demo.operational_store_url.removeprefix("sqlite:///"))
    if not demo.operational_store_url.startswith("sqlite:///") or not store.is_file():
        raise SystemExit(f"no SQLite store at {demo.operational_store_url}: run `make demo` first")
    copy = work / "store.db"
    shutil.copy2(store, copy)
    for suffix in ("-wal", "-shm"):
        if Path(f"{store}{suffix}").is_file():
            shutil.copy2(f"{store}{suffix}", f"{copy}{suffix}")
    settings = load_settings(config, store_url=f"sqlite:///{copy}")
    password = secrets.token_urlsafe(24)
    engine = create_store_engine(settings.operational_store_url)
    with engine.begin() as connection:
        users.add_user(
            connection,
            name=USER,
            password=password,
            permissions=PERMISSIONS,
            actor="cli:screenshots",
            now=settings.clock().now(),
        )
        detail = connection.exec_driver_sql(
            "SELECT id, restock_event_id FROM notification_jobs ORDER BY attempt_count DESC, id LIMIT 1"
        ).first()
    engine.dispose()
    # the trace of the busiest job's restock event, and that job with its attempts
    details = [f"/trace?restock_event={detail[1]}", f"/trace/jobs/{detail[0]}"] if detail else []
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the console did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", settings, password, [item.path for item in app.state.nav] + details
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def take(config: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory() as work, console_over_copy(config, Path(work)) as opened:
        url, _settings, password, paths = opened
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/sign-in")
            saved.append(out / "sign-in.png")
            page.screenshot(path=saved[-1])
            page.fill("input[name=name]", USER)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            for path in dict.fromkeys(["/", *paths]):
                page.goto(url + path)
                page.wait_for_function(
                    "document.querySelectorAll('[data-figure]:not([data-drawn])').length === 0",
                    timeout=30_000,
                )
                saved.append(out / file_name(path))
                page.screenshot(path=saved[-1], full_page=True)
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboards.screenshots", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, default=Path("data/demo/backinstock.toml"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    options = parser.parse_args(argv)
    for path in take(options.config, options.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
