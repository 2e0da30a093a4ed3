"""Crash safety: the dispatcher runs as a real process (`python -m dispatch`, what `backinstock dispatch`
starts) and is SIGKILLed at random points, 20 times, while it sends a restock through two lanes at once:
an idempotent provider (Resend, idempotency keys; unknown outcomes are sent again under the same key) and
one without (SendGrid; unknown outcomes wait for its event webhook, else stay held for review). Then a
dispatcher that is left alone finishes the work.

- Idempotent: every recipient has exactly one message accepted by the provider, and none is lost.
- Not idempotent: no recipient gets two; a job is `sent` exactly when the provider accepted its message;
  only jobs in flight at a kill can be ambiguous, and each of them is resolved from the provider's
  evidence or held (never sent again by itself).

The size is `BACKINSTOCK_CRASH_RECIPIENTS` per lane (CI: 1,000 per lane, a 2,000-recipient restock;
`BACKINSTOCK_CRASH_RECIPIENTS=2000` runs 2,000 through each lane)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from dispatch_harness import SECRETS
from seed_rows import NOW, SHOP, signup

from backinstock.clock import SystemClock
from backinstock.settings import LaneSettings
from backinstock.store import jobs
from backinstock.store.tables import notification_attempts
from simulator.providers import Faults

OTHER_SHOP = "other-shop.myshopify.com"
KILLS = 20
PER_LANE = int(os.environ.get("BACKINSTOCK_CRASH_RECIPIENTS", "1000"))
RATE = 150.0  # per lane: a life of the dispatcher sends a few dozen messages before its kill
ROOT = Path(__file__).resolve().parents[2]


def _enqueue(delivery, shop: str, prefix: str) -> None:
    with delivery.engine.begin() as connection:
        ids = [signup(connection, f"{prefix}{n}@example.com") for n in range(PER_LANE)]
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


def _requests(delivery) -> int:
    return sum(len(delivery.account(name).requests) for name in ("resend", "sendgrid"))


def test_sigkill_at_random_points_never_sends_twice_and_loses_nothing(delivery, store_url, tmp_path):
    if not store_url.startswith("sqlite"):
        pytest.skip("crash safety runs on SQLite in CI; the store's fences and recovery are the same SQL")
    _enqueue(delivery, SHOP, "idem")
    _enqueue(delivery, OTHER_SHOP, "plain")
    for name in ("resend", "sendgrid"):
        delivery.account(name).configure(Faults(latency_jitter_seconds=0.05, event_delay_seconds=1))
    environment = _environment(delivery, tmp_path)
    draw = random.Random(6)
    command = [
        sys.executable,
        "-m",
        "dispatch",
        "--for-seconds",
        "120",
        "--lane",
        "resend",
        "--lane",
        "sendgrid",
    ]
    for _ in range(KILLS):
        before = _requests(delivery)
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _requests(delivery) == before and process.poll() is None:
            assert time.monotonic() < deadline, "the dispatcher sent nothing"
            time.sleep(0.005)
        time.sleep(draw.uniform(0.0, 0.3))
        process.kill()
        process.wait(timeout=30)
    sent_under_kills = _requests(delivery)
    assert sent_under_kills < 2 * PER_LANE  # the kills landed while the restock was going out

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
        statuses = Counter((job.lane, job.status) for job in delivery.jobs())
        waiting_evidence = any(status == "held" for (lane, status) in statuses if lane == "sendgrid")
        if not any(status in open_states for (_, status) in statuses) and not waiting_evidence:
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
    assert Counter(job.status for job in idempotent) == {"sent": PER_LANE}
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
    assert len(held) <= KILLS * 8  # only what was in flight at a kill
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
