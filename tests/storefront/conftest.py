"""The storefront served by a real uvicorn server on a loopback port, on simulated time."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from backinstock.clock import FileClock
from backinstock.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store

from seed_rows import NOW

from storefront.app import create_app


@dataclass
class Storefront:
    client: httpx.Client
    settings: Settings
    clock: FileClock


@pytest.fixture
def storefront(settings: Settings, tmp_path: Path) -> Iterator[Storefront]:
    clock = FileClock(tmp_path / "clock")
    clock.set(NOW)
    settings = settings.model_copy(update={"clock_file": clock.path})
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "storefront did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield Storefront(client=client, settings=settings, clock=clock)
    server.should_exit = True
    thread.join(timeout=10)
