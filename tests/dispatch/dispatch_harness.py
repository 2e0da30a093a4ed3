"""Real things on loopback for the dispatcher (the `delivery` fixture, in conftest.py): the simulator's
provider fakes (every provider, the SMTP relay with STARTTLS and AUTH), the product's storefront receiving
their event webhooks, and lanes for each.

`Delivery` bundles them: `delivery.run(lanes=[...])` runs the dispatcher the way production does, on the
test's store (SQLite or PostgreSQL).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import uvicorn
from seed_rows import NOW, SHOP, signup, target_for

from backinstock.clock import FileClock
from backinstock.provider_webhooks import events_url
from backinstock.settings import LaneSettings, Settings
from backinstock.store import jobs, subscriptions
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import notification_attempts, notification_jobs
from dispatch.worker import WorkerReport, run
from simulator.providers.standalone import ProviderServer
from storefront.app import create_app

SECRETS = {
    "sendgrid": {"api_key": "SG.test-key"},
    "postmark": {"server_token": "pm-server-token"},
    "ses": {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "ses-secret", "region": "eu-west-1"},
    "resend": {
        "api_key": "re_test_key",
        "webhook_secret": "whsec_" + base64.b64encode(b"resend-secret").decode(),
    },
    "twilio": {"account_sid": "AC" + "1" * 32, "auth_token": "twilio-token"},
    "smtp": {"username": "relay-user", "password": "relay-pass"},
}
SMS_FROM = "+15005550006"


class ScaledClock:
    """Time that runs `speed` times faster than real time from `start`; `jump` moves it ahead at once.
    The dispatcher sleeps `1 / speed` of a clock interval (it reads `speed`), the fakes stamp with it."""

    def __init__(self, start: datetime, speed: float) -> None:
        self.start, self.speed = start, speed
        self.origin = time.monotonic()
        self.offset = 0.0
        self.lock = threading.Lock()

    def now(self) -> datetime:
        with self.lock:
            return self.start + timedelta(seconds=(time.monotonic() - self.origin) * self.speed + self.offset)

    def jump(self, to: datetime) -> None:
        moved = (to - self.now()).total_seconds()
        with self.lock:
            self.offset += moved


def lane_configs(api_url: str, relay: Any, **overrides: Any) -> list[dict[str, Any]]:
    postmark, ses, resend, twilio, smtp = (
        SECRETS[name] for name in ("postmark", "ses", "resend", "twilio", "smtp")
    )
    lanes = [
        {
            "name": "sendgrid",
            "provider": "sendgrid",
            "api_url": api_url,
            "api_key": SECRETS["sendgrid"]["api_key"],
        },
        {"name": "postmark", "provider": "postmark", "api_url": api_url, "api_key": postmark["server_token"]},
        {"name": "ses", "provider": "ses", "api_url": api_url, **ses},
        {"name": "resend", "provider": "resend", "api_url": api_url, **resend},
        {"name": "twilio", "provider": "twilio", "api_url": api_url, "from_number": SMS_FROM, **twilio},
    ]
    if relay is not None:
        lanes.append(
            {
                "name": "smtp",
                "provider": "smtp",
                "host": relay.host,
                "port": relay.port,
                "tls_ca_file": str(relay.cert_file),
                **smtp,
            }
        )
    for lane in lanes:
        lane.update({"timeout_seconds": 2.0, "concurrency": 8} | overrides.get(lane["name"], {}))
    return lanes


def serve_in_thread(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


@dataclass
class Delivery:
    """The store, the storefront, the provider fakes and the settings that join them."""

    engine: sa.Engine
    settings: Settings
    fakes: ProviderServer
    storefront_url: str
    clock: TestClock

    def with_settings(self, **changes: Any) -> Settings:
        dispatch = self.settings.dispatch.model_copy(update=changes.pop("dispatch", {}))
        return self.settings.model_copy(update={"dispatch": dispatch, **changes})

    def run(self, *, lanes: list[str], settings: Settings | None = None, **options: Any) -> WorkerReport:
        options.setdefault("for_seconds", 20)
        options.setdefault("until_idle", True)
        options.setdefault("clock", self.clock)
        return run(self.engine, settings or self.settings, lane_names=lanes, **options)

    def account(self, provider: str):
        return self.fakes.account(provider)

    def enqueue(self, emails: list[str], *, channel: str = "email", **overrides: Any) -> list[int]:
        with self.engine.begin() as connection:
            ids = [
                signup(connection, email) if channel == "email" else sms_signup(connection, email)
                for email in emails
            ]
            targets = [target_for(connection, sid, rank=n, **overrides) for n, sid in enumerate(ids, 1)]
            jobs.enqueue_targets(connection, targets, NOW)
        return ids

    def jobs(self) -> list[Any]:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(notification_jobs).order_by(notification_jobs.c.id)).all()

    def attempts(self) -> list[Any]:
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(notification_attempts).order_by(
                    notification_attempts.c.job_id, notification_attempts.c.id
                )
            ).all()

    def wait_for_events(self, count: int, timeout: float = 15.0) -> None:
        """Wait until the fakes have posted `count` event webhooks (and the storefront answered them)."""
        deadline = time.monotonic() + timeout
        while len(self.fakes.poster.posted) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.fakes.poster.posted)} of {count} provider events posted")
            time.sleep(0.05)


class TestClock:
    """The one clock of a test's world (dispatcher, fakes, and the storefront through its clock file):
    fixed at an instant (`set`), or following another clock (`follow`, e.g. a `ScaledClock`; the
    storefront then keeps the last instant set); `speed` tells the dispatcher how fast it runs."""

    def __init__(self, at: datetime, file: FileClock) -> None:
        self.file = file
        self.source: ScaledClock | None = None
        self.set(at)

    def set(self, at: datetime) -> None:
        self.at, self.source = at, None
        self.file.set(at)

    def follow(self, source: ScaledClock) -> None:
        self.source = source

    @property
    def speed(self) -> float:
        return self.source.speed if self.source else 1.0

    def now(self) -> datetime:
        return self.source.now() if self.source else self.at


def sms_signup(connection: sa.Connection, phone: str) -> int:
    signup(connection, "seed-catalog@example.com")  # puts variant 1 in the catalog
    return subscriptions.subscribe(
        connection,
        shop=SHOP,
        variant_id="gid://shopify/ProductVariant/1",
        product_id="gid://shopify/Product/1001",
        channel="sms",
        contact=phone,
        locale="en",
        client_id=None,
        consent=subscriptions.Consent(text="Text me when it is back.", method="storefront_form"),
        now=NOW,
    ).subscription_id


def delivery_world(settings: Settings, store_url: str) -> Iterator[Delivery]:
    """Storefront first (the fakes post events to it), then the fakes, then settings pointing at both."""
    clock = TestClock(NOW, FileClock(settings.data_dir / "clock"))
    settings = settings.model_copy(update={"clock_file": clock.file.path})
    placeholder = settings.model_copy(update={"lanes": [], "storefront_url": "http://127.0.0.1:9"})
    storefront, thread, storefront_url = serve_in_thread(create_app(placeholder))
    key = settings.signing_key
    config: dict[str, Any] = {
        name: {
            **SECRETS[name],
            "events_url": events_url(storefront_url, key, name),
            "faults": {"event_delay_seconds": 1},
        }
        for name in ("sendgrid", "postmark", "ses", "resend")
    }
    config["twilio"] = dict(SECRETS["twilio"])
    config["smtp"] = dict(SECRETS["smtp"])
    with ProviderServer(config, clock=clock.now) as fakes:
        lanes = [LaneSettings(**lane) for lane in lane_configs(fakes.url, fakes.relay)]
        # Stock checks are off here (the shop has no Admin API on loopback); tests/dispatch/test_stock.py
        # runs them against the simulated store.
        policy = settings.dispatch.model_copy(update={"stock_check": False, "lease_seconds": 30})
        final = settings.model_copy(
            update={"lanes": lanes, "storefront_url": storefront_url, "dispatch": policy}
        )
        storefront.config.app.state.settings = final  # the storefront checks lane tokens and signatures
        engine = create_store_engine(store_url)
        yield Delivery(engine, final, fakes, storefront_url, clock)
        engine.dispose()
    storefront.should_exit = True
    thread.join(timeout=10)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)
