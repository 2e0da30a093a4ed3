"""Real things on loopback for the simulator's tests: the simulator app in a thread, a stand-in storefront
that answers the public routes the shoppers call (and checks webhook signatures), and a stand-in product that
polls the shop with the product's own reads and sends one alert per target through the fake SendGrid, so a
scenario can be played end to end without the rest of the product."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn

from backinstock.settings import ShopSettings
from backinstock.shopify import reads
from backinstock.shopify.client import ShopifyClient
from simulator.app import create_app
from simulator.instants import format_instant, parse_instant
from simulator.world import World, WorldConfig

SHOP = "demo-outfitters.myshopify.com"
TOKEN = "shpat_sim_test"
WEBHOOK_SECRET = "whsec_sim_test"
SENDGRID_KEY = "SG.sim-test"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class FakeStorefront:
    """The storefront's public routes, answered the way the contract says, with what arrived recorded."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        self.secret = secret
        self.webhooks: list[dict] = []
        self.rejected_webhooks = 0
        self.views: list[dict] = []
        self.subscriptions: dict[int, dict] = {}
        self.opens: list[str] = []
        self.clicks: list[str] = []
        self.unsubscribed: list[str] = []
        self.confirmed: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer: headers and body in the same segment

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path.startswith("/confirm/"):
                    known = int(path.rsplit("/", 1)[1]) in outer.subscriptions
                    self._answer(200 if known else 404, b"<form method=post></form>", "text/html")
                elif path.startswith("/o/"):
                    outer.opens.append(path[3:].removesuffix(".gif"))
                    self._answer(200, GIF, "image/gif")
                elif path.startswith("/c/"):
                    outer.clicks.append(path[3:])
                    # the product page, with the click token the order can carry back (the contract)
                    location = f"https://{SHOP}/products/x?utm_source=backinstock&bis_click={path[3:]}"
                    self._answer(302, b"", headers={"Location": location})
                else:
                    self._answer(404, b"")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                with outer.lock:
                    status, body = outer.route(path, dict(self.headers), raw)
                self._answer(status, json.dumps(body).encode() if body is not None else b"")

            def _answer(self, status: int, body: bytes, kind: str = "application/json", headers=None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, path: str, headers: dict, raw: bytes) -> tuple[int, dict | None]:
        if path == "/webhooks/shopify":
            expected = base64.b64encode(hmac.new(self.secret.encode(), raw, hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(expected, headers.get("X-Shopify-Hmac-Sha256", "")):
                self.rejected_webhooks += 1
                return 401, None
            self.webhooks.append({"headers": headers, "payload": json.loads(raw)})
            return 200, None
        if path == "/api/events":
            self.views.append(json.loads(raw))
            return 202, None
        if path == "/api/subscriptions":
            request = json.loads(raw)
            live = any(
                subscription["active"]
                and (subscription["email"], subscription["variant_id"])
                == (request["email"], request["variant_id"])
                for subscription in self.subscriptions.values()
            )
            if not live:
                number = len(self.subscriptions) + 1
                self.subscriptions[number] = {**request, "active": True, "confirmed": False}
            return 202, {"status": "accepted", "double_opt_in": True}
        if path.startswith("/confirm/"):
            subscription = self.subscriptions.get(int(path.rsplit("/", 1)[1]))
            if subscription is None or not subscription["active"]:
                return 404, None
            subscription["confirmed"] = True
            self.confirmed.append(path)
            return 200, None
        if path.startswith("/u/"):
            if parse_qs(raw.decode()).get("List-Unsubscribe") != ["One-Click"]:
                return 400, None
            email = self.subscriptions[int(path[3:])]["email"]
            self.unsubscribed.append(email)
            for subscription in self.subscriptions.values():
                if subscription["email"] == email:
                    subscription["active"] = False
            return 200, None
        return 404, None

    def __enter__(self) -> FakeStorefront:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def world_config(storefront_url: str, **overrides) -> WorldConfig:
    values = {
        "seed": 7,
        "start": parse_instant("2026-11-02T00:00:00Z"),
        "days": 2,
        "scenario": "small",
        "storefront_url": storefront_url,
        "shop_domain": SHOP,
        "access_token": TOKEN,
        "webhook_secret": WEBHOOK_SECRET,
        "sendgrid_key": SENDGRID_KEY,
    }
    return WorldConfig(**{**values, **overrides})


@contextlib.contextmanager
def serving(world: World) -> Iterator[str]:
    """The simulator app for `world` on a free loopback port, in a thread; yields its base URL."""
    config = uvicorn.Config(
        create_app(world), host="127.0.0.1", port=0, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class StandInProduct:
    """Polls the shop as the product's ingest does (locations, products, variants, inventory levels since
    the last poll), then, as the product would after a cycle: a double opt-in confirmation for each new
    signup, then one alert per ground-truth target (skipping opted-out contacts), with the open pixel, a
    click link and the one-click unsubscribe header. The ground truth judges restocks by what the product
    was told, so a stand-in that never polled would know of none."""

    def __init__(self, http: httpx.Client, simulator_url: str, storefront: FakeStorefront) -> None:
        self.http = http
        self.simulator_url = simulator_url
        self.storefront = storefront
        self.jobs: dict[tuple, int] = {}
        self.confirmations_sent: set[int] = set()
        self.polled_at: datetime | None = None

    def poll(self, as_of: datetime) -> None:
        since = None if self.polled_at is None else self.polled_at - timedelta(minutes=5)
        shop = ShopSettings(domain=SHOP, access_token=TOKEN, admin_api_url=self.simulator_url)
        with ShopifyClient(shop) as client:
            locations = [row["location_id"] for row in reads.read_locations(client)]
            list(reads.read_products(client, since))
            list(reads.read_variants(client, since))
            list(reads.read_inventory_levels(client, locations, since))
        self.polled_at = as_of

    def cycle(self, as_of: datetime) -> None:
        self.poll(as_of)
        for number, subscription in list(self.storefront.subscriptions.items()):
            if number not in self.confirmations_sent:
                self.confirmations_sent.add(number)
                self.send_confirmation(number, subscription["email"], subscription["variant_id"])
        truth = self.http.get(
            f"{self.simulator_url}/_sim/ground-truth", params={"as_of": format_instant(as_of)}
        ).json()
        for target in truth["targets"]:
            key = (target["email"], target["variant_id"], target["restocked_at"])
            if key in self.jobs or target["email"] in self.storefront.unsubscribed:
                continue
            job_id = self.jobs[key] = len(self.jobs) + 1
            subscription_id = next(
                number
                for number, subscription in self.storefront.subscriptions.items()
                if (subscription["email"], subscription["variant_id"])
                == (target["email"], target["variant_id"])
            )
            self.send(job_id, target["email"], target["variant_id"], subscription_id)

    def send_confirmation(self, number: int, email: str, variant_id: str) -> httpx.Response:
        link = f"{self.storefront.url}/confirm/{number}"
        body = {
            "personalizations": [{"to": [{"email": email}]}],
            "from": {"email": "alerts@demo-outfitters.example", "name": "Demo Outfitters"},
            "subject": "Please confirm your alert",
            "content": [
                {"type": "text/plain", "value": f"Confirm: {link}"},
                {"type": "text/html", "value": f'<p><a href="{link}">Yes, notify me</a></p>'},
            ],
            "custom_args": {
                "kind": "confirmation",
                "outbox_id": str(number),
                "shop": SHOP,
                "variant_id": variant_id,
            },
        }
        return self.http.post(
            f"{self.simulator_url}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {SENDGRID_KEY}"},
        )

    def send(self, job_id: int, email: str, variant_id: str, subscription_id: int) -> httpx.Response:
        base = self.storefront.url
        body = {
            "personalizations": [{"to": [{"email": email}]}],
            "from": {"email": "alerts@demo-outfitters.example", "name": "Demo Outfitters"},
            "subject": "It's back in stock",
            "content": [
                {"type": "text/plain", "value": f"Back in stock: {base}/c/{job_id}"},
                {
                    "type": "text/html",
                    "value": f'<p><a href="{base}/c/{job_id}">Shop now</a></p>'
                    f'<img src="{base}/o/{job_id}.gif" width="1" height="1" alt="">',
                },
            ],
            "headers": {
                "List-Unsubscribe": f"<{base}/u/{subscription_id}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            "custom_args": {"job_id": str(job_id), "shop": SHOP, "variant_id": variant_id},
        }
        return self.http.post(
            f"{self.simulator_url}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {SENDGRID_KEY}"},
        )


def drive(
    http: httpx.Client, simulator_url: str, product: StandInProduct, end: datetime, cycle: timedelta
) -> int:
    """The demo driver's loop: step to the next event or cycle boundary, run a cycle at each boundary."""
    clock = http.get(f"{simulator_url}/_sim/clock").json()
    now = parse_instant(clock["now"])
    next_cycle = now
    upcoming = parse_instant(clock["next_event_at"]) if clock["next_event_at"] else None
    steps = 0
    while True:
        moment = min(m for m in (upcoming, next_cycle) if m is not None)
        if moment > end:
            break
        answer = http.post(f"{simulator_url}/_sim/advance", json={"to": format_instant(moment)}).json()
        steps += 1
        upcoming = parse_instant(answer["next_event_at"]) if answer["next_event_at"] else None
        if moment == next_cycle:
            product.cycle(moment)
            next_cycle += cycle
    http.post(f"{simulator_url}/_sim/advance", json={"to": format_instant(end)})
    return steps
