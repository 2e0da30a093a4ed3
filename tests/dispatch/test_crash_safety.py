"""Crash safety: the dispatcher runs as a real process (`python -m dispatch`, what `backinstock dispatch`
starts) and is SIGKILLed at random points, 20 times, while it sends a restock through two lanes at once:
an idempotent provider (Resend, idempotency keys; unknown outcomes are sent again under the same key) and
one without (SendGrid; unknown outcomes wait for its event webhook, else stay held for review). Then a
dispatcher that is left alone finishes the work.

- Idempotent: every recipient has exactly one message accepted by the provider, and none is lost.
- Not idempotent: no recipient gets two; a job is `sent` exactly when the provider accepted its message;
  only jobs in flight at a kill can be ambiguous, and each of them is resolved from the provider's
  evidence or held (never sent again by itself).

On SQLite the size is `BACKINSTOCK_CRASH_RECIPIENTS` per lane (CI: 1,000 per lane, a 2,000-recipient
restock; `BACKINSTOCK_CRASH_RECIPIENTS=2000` runs 2,000 through each lane), 20 kills. PostgreSQL runs the
same test smaller (500 per lane, 10 kills): its fences and recovery are the same SQL, what it adds is its own
locking and isolation. The dispatcher processes are forked from one that imported the dispatcher once, so a
kill costs no imports (see `Dispatchers`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from dispatch_harness import SECRETS
from seed_rows import NOW, SHOP, signup

from backinstock.clock import SystemClock
from backinstock.settings import LaneSettings
from backinstock.store import jobs
from backinstock.store.tables import notification_attempts
from simulator.providers import Faults

OTHER_SHOP = "other-shop.myshopify.com"
SIZES = {  # kills, recipients per lane
    "sqlite": (20, int(os.environ.get("BACKINSTOCK_CRASH_RECIPIENTS", "1000"))),
    "postgresql": (10, 500),
}
RATE = 150.0  # per lane: a life of the dispatcher sends a few dozen messages before its kill
ROOT = Path(__file__).resolve().parents[2]


def _enqueue(delivery, shop: str, prefix: str, per_lane: int) -> None:
    with delivery.engine.begin() as connection:
        ids = [signup(connection, f"{prefix}{n}@example.com") for n in range(per_lane)]
        rows = connection.execute(
            sa.text("SELECT id, contact, created_at FROM subscriptions WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        ).all()
        targets = [
            {
                "target_id": f"restock-1:{row.id}",
                "restock_event_id": f"restock-{shop}",
                "shop": shop,
                "variant_id": "gid://shopify/ProductVariant/1",
                "product_id": "gid://shopify/Product/1001",
                "subscription_id": row.id,
                "channel": "email",
                "contact": row.contact,
                "locale": "en",
                "restocked_at": NOW.replace(tzinfo=None),
                "target_rank": rank,
                "product_title": "Linen Shirt 1",
                "variant_title": "M / Blue",
                "product_handle": "linen-shirt-1",
                "price": "49.90",
                "currency_code": "EUR",
                "shop_name": "Test Shop",
            }
            for rank, row in enumerate(rows, 1)
        ]
        jobs.enqueue_targets(connection, targets, NOW)


def _lanes(delivery) -> list[dict]:
    """The lanes as the dispatcher process reads them from its environment (secrets in clear)."""
    url = delivery.fakes.url
    common = {"api_url": url, "rate_per_second": RATE, "concurrency": 8, "timeout_seconds": 5.0}
    return [
        {"name": "resend", "provider": "resend", "shops": [SHOP], **SECRETS["resend"], **common},
        {
            "name": "sendgrid",
            "provider": "sendgrid",
            "shops": [OTHER_SHOP],
            "api_key": SECRETS["sendgrid"]["api_key"],
            **common,
        },
    ]


def _environment(delivery, tmp_path: Path) -> dict[str, str]:
    settings = delivery.settings
    config = tmp_path / "empty.toml"
    config.write_text("")
    shops = [
        {"domain": domain, "webhook_secret": "whsec_test", "timezone": "UTC"} for domain in (SHOP, OTHER_SHOP)
    ]
    return {
        **os.environ,
        "BACKINSTOCK_CONFIG": str(config),
        "BACKINSTOCK_DATA_DIR": str(settings.data_dir),
        "BACKINSTOCK_STORE_URL": settings.store_url,
        "BACKINSTOCK_SECRET_KEY": "test-secret-key",
        "BACKINSTOCK_STOREFRONT_URL": delivery.storefront_url,
        "BACKINSTOCK_SHOPS": json.dumps(shops),
        "BACKINSTOCK_LANES": json.dumps(_lanes(delivery)),
        "BACKINSTOCK_DISPATCH": json.dumps({"stock_check": False, "lease_seconds": 2, "batch_size": 50}),
    }


ZYGOTE = """
import json, os, signal, sys
import dispatch.__main__ as entry
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped the moment they die
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 0)
        os.dup2(quiet, 1)
        code = 1
        try:
            code = entry.main(json.loads(line))
        finally:
            os._exit(code)
    print(pid, flush=True)
"""


class Dispatchers:
    """`python -m dispatch` processes, each forked from one process that imported the dispatcher once:
    every one runs the command's `main` in a process of its own, killed with SIGKILL like any other, without
    paying the imports (about 2 s of CPU) at each of the 20 kills."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.parent = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            env=environment,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self, argv: list[str]) -> int:
        self.parent.stdin.write(json.dumps(argv) + "\n")
        self.parent.stdin.flush()
        return int(self.parent.stdout.readline())

    @staticmethod
    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.alive(pid):
            assert time.monotonic() < deadline, "a killed dispatcher did not go"
            time.sleep(0.005)

    def close(self) -> None:
        self.parent.stdin.close()
        self.parent.wait(timeout=30)


def _requests(delivery) -> int:
    return sum(len(delivery.account(name).requests) for name in ("resend", "sendgrid"))


def test_sigkill_at_random_points_never_sends_twice_and_loses_nothing(delivery, tmp_path):
    kills, per_lane = SIZES[delivery.engine.dialect.name]
    _enqueue(delivery, SHOP, "idem", per_lane)
    _enqueue(delivery, OTHER_SHOP, "plain", per_lane)
    for name in ("resend", "sendgrid"):
        delivery.account(name).configure(Faults(latency_jitter_seconds=0.05, event_delay_seconds=1))
    environment = _environment(delivery, tmp_path)
    draw = random.Random(6)
    arguments = ["--for-seconds", "120", "--lane", "resend", "--lane", "sendgrid"]
    dispatchers = Dispatchers(environment)
    try:
        for _ in range(kills):
            before = _requests(delivery)
            pid = dispatchers.start(arguments)
            deadline = time.monotonic() + 60
            while _requests(delivery) == before and dispatchers.alive(pid):
                assert time.monotonic() < deadline, "the dispatcher sent nothing"
                time.sleep(0.005)
            time.sleep(draw.uniform(0.0, 0.3))
            dispatchers.kill(pid)
    finally:
        dispatchers.close()
    sent_under_kills = _requests(delivery)
    assert sent_under_kills < 2 * per_lane  # the kills landed while the restock was going out

    # A dispatcher left alone finishes: it recovers the dead workers' leases once they run out.
    settings = delivery.settings.model_copy(
        update={"shops": [shop.model_copy(update={"timezone": "UTC"}) for shop in delivery.settings.shops]}
    )
    settings = settings.model_copy(update={"lanes": [LaneSettings(**lane) for lane in _lanes(delivery)]})
    settings = settings.model_copy(
        update={"dispatch": settings.dispatch.model_copy(update={"lease_seconds": 2, "batch_size": 50})}
    )
    open_states = {"pending", "sending", "retry_scheduled"}
    deadline = time.monotonic() + 120
    recovered_held = 0
    while True:
        report = delivery.run(
            lanes=["resend", "sendgrid"], settings=settings, clock=SystemClock(), for_seconds=30
        )
        recovered_held += report.recovered_held
        current = delivery.jobs()
        accepted = {found.job_id for found in delivery.account("sendgrid").accepted}
        # Held jobs the provider accepted wait for its event webhook; the others stay held (for review).
        waiting_evidence = any(job.status == "held" and str(job.id) in accepted for job in current)
        if not any(job.status in open_states for job in current) and not waiting_evidence:
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)

    everything = delivery.jobs()
    by_shop = {SHOP: [], OTHER_SHOP: []}
    for job in everything:
        by_shop[job.shop].append(job)
    # Idempotent lane: exactly one accepted message per recipient, none lost.
    resend = delivery.account("resend")
    idempotent = by_shop[SHOP]
    assert Counter(job.status for job in idempotent) == {"sent": per_lane}
    assert Counter(d.job_id for d in resend.accepted) == {str(job.id): 1 for job in idempotent}
    # Not idempotent: never two; sent exactly when accepted; the rest held (ambiguous), nothing else.
    sendgrid = delivery.account("sendgrid")
    plain = by_shop[OTHER_SHOP]
    accepted = Counter(d.job_id for d in sendgrid.accepted)
    assert max(accepted.values()) == 1
    statuses = Counter(job.status for job in plain)
    assert set(statuses) <= {"sent", "held"}, statuses
    for job in plain:
        assert (job.status == "sent") == (accepted.get(str(job.id)) == 1), job
    held = [job for job in plain if job.status == "held"]
    assert len(held) <= kills * 8  # only what was in flight at a kill
    # Kills did catch messages in flight: their outcome was unknown, and resolved (or held).
    with delivery.engine.connect() as connection:
        unknown = connection.execute(
            sa.select(sa.func.count()).where(
                sa.or_(
                    notification_attempts.c.resolved_by.is_not(None),
                    notification_attempts.c.error_message.like("lease expired%"),
                )
            )
        ).scalar_one()
    assert unknown > 0 and recovered_held > 0
