"""The provider fakes on their own: one HTTP server (and, when asked, the SMTP relay), events posted after
real delays. Tests run it in a thread (`ProviderServer`), the benchmark as a process
(`python -m simulator.providers --port P --config JSON`).

Config: `{"sendgrid": {"api_key", "events_url", "faults": {...}}, "postmark": {"server_token",
"events_url", "inactive": [...]}, "ses": {"access_key_id", "secret_access_key", "region", "events_url"},
"resend": {"api_key", "events_url", "webhook_secret"}, "twilio": {"account_sid", "auth_token",
"opted_out": [...]}, "smtp": {"username", "password"}}`, any subset.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from simulator.providers.accounts import Faults
from simulator.providers.common import Event
from simulator.providers.hub import ProviderHub, real_now
from simulator.providers.postmark import PostmarkFront
from simulator.providers.resend import ResendFront
from simulator.providers.sendgrid import SendGridFront
from simulator.providers.ses import SesFront
from simulator.providers.smtp import SmtpRelay
from simulator.providers.twilio import TwilioFront

EVENT_TIMEOUT_SECONDS = 10.0


def build_hub(config: dict[str, Any], hub: ProviderHub) -> ProviderHub:
    def faults(name: str) -> Faults:
        return Faults(**(config[name].get("faults") or {}))

    if "sendgrid" in config:
        part = config["sendgrid"]
        hub.add(SendGridFront(part["api_key"], part.get("events_url")), faults("sendgrid"))
    if "postmark" in config:
        part = config["postmark"]
        front = PostmarkFront(part["server_token"], part.get("events_url"), tuple(part.get("inactive") or ()))
        hub.add(front, faults("postmark"))
    if "ses" in config:
        part = config["ses"]
        front = SesFront(
            part["access_key_id"], part["secret_access_key"], part["region"], part.get("events_url")
        )
        hub.add(front, faults("ses"))
    if "resend" in config:
        part = config["resend"]
        front = ResendFront(part["api_key"], part.get("events_url"), part.get("webhook_secret", ""))
        hub.add(front, faults("resend"), idempotent=True)
    if "twilio" in config:
        part = config["twilio"]
        hub.add(
            TwilioFront(part["account_sid"], part["auth_token"], tuple(part.get("opted_out") or ())),
            faults("twilio"),
        )
    if "smtp" in config:
        hub.add_relay = True  # type: ignore[attr-defined]
    return hub


class EventPoster:
    """Posts the events a hub owes, each at its instant on the hub's clock, from the server's loop."""

    def __init__(self, clock: Callable[[], datetime], speed: float = 1.0) -> None:
        self.clock = clock
        self.speed = speed
        self.client: httpx.AsyncClient | None = None
        self.posted: list[tuple[Event, int | None]] = []
        self.tasks: set[asyncio.Task] = set()

    def __call__(self, event: Event) -> None:
        task = asyncio.get_running_loop().create_task(self._post(event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, event: Event) -> None:
        delay = (event.at - self.clock()).total_seconds() / self.speed
        if delay > 0:
            await asyncio.sleep(delay)
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=EVENT_TIMEOUT_SECONDS)
        try:
            response = await self.client.post(event.url, content=event.body, headers=event.headers)
            self.posted.append((event, response.status_code))
        except httpx.HTTPError:
            self.posted.append((event, None))


class ProviderServer:
    """The fakes served on a free loopback port from a thread (and the SMTP relay when configured)."""

    def __init__(
        self, config: dict[str, Any], *, clock: Callable[[], datetime] = real_now, speed: float = 1.0
    ) -> None:
        self.poster = EventPoster(clock, speed)
        self.hub = build_hub(config, ProviderHub(clock=clock, schedule=self.poster))
        self.relay: SmtpRelay | None = None
        if "smtp" in config:
            account = self.hub.add(_SmtpFront(), Faults(**(config["smtp"].get("faults") or {})))
            self.relay = SmtpRelay(
                account, username=config["smtp"]["username"], password=config["smtp"]["password"], clock=clock
            )
        self.server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=self.hub.routes()),
                host="127.0.0.1",
                port=0,
                log_level="warning",
                access_log=False,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> ProviderServer:
        if self.relay is not None:
            self.relay.__enter__()
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the provider fakes did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.relay is not None:
            self.relay.__exit__()

    def account(self, provider: str):
        return self.hub.accounts[provider]


class _SmtpFront:
    """The SMTP relay's account has no HTTP route; it is listed in the hub for its log."""

    provider = "smtp"
    routes: tuple[str, ...] = ()

    def handle(self, account, request, now):
        raise NotImplementedError

    def events(self, account, delivery, now):
        return []


@contextlib.contextmanager
def serving(config: dict[str, Any], **options: Any) -> Iterator[ProviderServer]:
    with ProviderServer(config, **options) as server:
        yield server
