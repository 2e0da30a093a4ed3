"""The storefront served by a real uvicorn server on a loopback port, on simulated time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import uvicorn

from backinstock.clock import FileClock
from backinstock.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store

from seed_rows import NOW
from sf_helpers import free_port

from storefront.app import create_asgi


@dataclass
class Storefront:
    client: httpx.Client
    settings: Settings
    clock: FileClock


@contextmanager
def serve(settings: Settings, tmp_path: Path, **config: object) -> Iterator[Storefront]:
    """The storefront as `python -m storefront` runs it, on a free port, its clock at NOW."""
    clock = FileClock(tmp_path / "clock")
    clock.set(NOW)
    settings = settings.model_copy(update={"clock_file": clock.path})
    server = uvicorn.Server(
        uvicorn.Config(create_asgi(settings), host="127.0.0.1", port=0, proxy_headers=False, **config)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "storefront did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Storefront(client=client, settings=settings, clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def storefront(settings: Settings, tmp_path: Path) -> Iterator[Storefront]:
    with serve(settings, tmp_path, log_level="warning", access_log=False) as running:
        yield running


@dataclass
class StorefrontProcess(Storefront):
    log: Path


@pytest.fixture
def storefront_process(settings: Settings, tmp_path: Path) -> Iterator[StorefrontProcess]:
    """`python -m storefront` in its own process, configured by environment variables as in production,
    its output (access log included) in a file."""
    with serve_process(settings, tmp_path) as running:
        yield running


@pytest.fixture
def storefront_processes(settings: Settings, tmp_path: Path):
    """`serve_process` on this test's settings: `with storefront_processes(workers=2) as running: ...`."""
    return partial(serve_process, settings, tmp_path)


@contextmanager
def serve_process(settings: Settings, tmp_path: Path, workers: int = 1) -> Iterator[StorefrontProcess]:
    clock = FileClock(tmp_path / "clock")
    clock.set(NOW)
    port = free_port()
    environment = {
        **os.environ,
        "BACKINSTOCK_CONFIG": str(tmp_path / "none.toml"),
        "BACKINSTOCK_DATA_DIR": str(settings.data_dir),
        "BACKINSTOCK_STORE_URL": settings.store_url,
        "BACKINSTOCK_SECRET_KEY": settings.secret_key.get_secret_value(),
        "BACKINSTOCK_CLOCK_FILE": str(clock.path),
        "BACKINSTOCK_STOREFRONT_PORT": str(port),
        "BACKINSTOCK_SHOPS": json.dumps(
            [
                {"domain": shop.domain, "webhook_secret": shop.webhook_secret.get_secret_value()}
                for shop in settings.shops
            ]
        ),
    }
    (tmp_path / "none.toml").write_text("")
    log = tmp_path / "storefront.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "storefront", "--workers", str(workers)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield StorefrontProcess(client=client, settings=settings, clock=clock, log=log)
    finally:
        process.terminate()
        process.wait(timeout=10)
