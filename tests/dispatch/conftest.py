"""A real loopback HTTP server standing in for SendGrid, and settings whose email lane points at it."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from backinstock.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))  # seed_rows, shared with tests/store

API_KEY = "SG.test-key"


@dataclass
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay_seconds: float = 0.0


class FakeSendGrid:
    """Records every `POST /v3/mail/send` and answers from a script (default: 202 with X-Message-Id)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Scripted] = []
        self.always: Scripted | None = None
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
                    number = len(fake.requests)
                    answer = fake.script.pop(0) if fake.script else fake.always or Scripted(202)
                time.sleep(answer.delay_seconds)
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                if answer.status == 202:
                    self.send_header("X-Message-Id", f"msg-{number}")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout tests)
                    self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, status: int, times: int = 1, **kwargs: Any) -> None:
        self.script.extend(Scripted(status, **kwargs) for _ in range(times))


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def dispatch_settings(settings: Settings, sendgrid: FakeSendGrid) -> Settings:
    email = settings.email.model_copy(
        update={"api_url": sendgrid.url, "api_key": SecretStr(API_KEY), "timeout_seconds": 2.0}
    )
    return settings.model_copy(update={"email": email, "storefront_url": "https://alerts.example.test"})
