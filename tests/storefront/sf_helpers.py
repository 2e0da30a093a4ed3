"""What the storefront tests share: signed webhooks, App Proxy signatures, stored-row counts, raw sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from urllib.parse import urlsplit

import sqlalchemy as sa
from seed_rows import SHOP

from backinstock.store.tables import metadata

WEBHOOK_SECRET = "whsec_test"


def shopify_headers(body: bytes, secret: str = WEBHOOK_SECRET, **headers: str) -> dict[str, str]:
    """The headers Shopify sends with a webhook, signed over `body`; keyword arguments replace any."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Topic": "inventory_levels/update",
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": "2026-11-02T11:59:01.123Z",
        "Content-Type": "application/json",
    } | {name.replace("_", "-"): value for name, value in headers.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stored_rows(engine: sa.Engine) -> dict[str, int]:
    """Rows per table of the operational store: "stores nothing" means this does not change."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def raw_request(base_url: str, head: str, body_chunks, read_after: int | None = None) -> tuple[int, int]:
    """Send `head` then body chunks on a raw socket until the server answers; (status, body bytes sent).

    A server that refuses early answers (and may close) while the client is still sending: what matters is
    the status it gave and how much it let us send first.
    """
    address = urlsplit(base_url)
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(head.encode("latin-1"))
        connection.setblocking(False)
        for chunk in body_chunks:
            if _answered(connection):
                break
            try:
                connection.setblocking(True)
                connection.settimeout(2)
                connection.sendall(chunk)
                sent += len(chunk)
            except OSError:
                break
            finally:
                connection.setblocking(False)
        connection.setblocking(True)
        connection.settimeout(10)
        answer = connection.recv(65536).decode("latin-1")
    return int(answer.split(" ", 2)[1]), sent


def _answered(connection: socket.socket) -> bool:
    try:
        return bool(connection.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    except OSError:
        return True
