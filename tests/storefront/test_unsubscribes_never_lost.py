"""Unsubscribes are never lost: a writer holds the store while one-click unsubscribes arrive; every one is
answered 200, spooled durably, and honoured before the next send (the dispatcher applies the spool first)."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from seed_rows import CONSENT, NOW, SHOP, signup

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dispatch"))  # the delivery world on loopback

from dispatch_harness import delivery_world

from backinstock import links
from backinstock.settings import Settings
from backinstock.store import outbox, subscriptions
from backinstock.store.engine import create_store_engine
from backinstock.store.tables import outbox_messages, suppressions
from backinstock.store.tables import subscriptions as subscription_table
from backinstock.unsubscribes import Spool, Unsubscribe, spool_of

HOLD_SECONDS = 12
UNSUBSCRIBES = 200
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The storefront never applies the spool itself here: the dispatcher's hook must."""
    storefront = settings.storefront.model_copy(update={"spool_apply_seconds": 3600})
    return settings.model_copy(update={"storefront": storefront})


@pytest.fixture
def delivery(settings: Settings, store_url: str):
    yield from delivery_world(settings, store_url)


class StoreHolder(threading.Thread):
    """Another writer holding the store's write lock (SQLite) or an exclusive lock on the tables an
    unsubscribe writes (PostgreSQL) for `seconds`."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seconds = url, seconds
        self.holding, self.released = threading.Event(), threading.Event()

    def run(self) -> None:
        if self.url.startswith("sqlite"):
            connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE lanes SET updated_at = updated_at")
            self._hold()
            connection.execute("COMMIT")
            connection.close()
        else:
            engine = create_store_engine(self.url)
            with engine.begin() as connection:
                connection.exec_driver_sql("LOCK TABLE subscriptions, suppressions IN EXCLUSIVE MODE")
                self._hold()
            engine.dispose()
        self.released.set()

    def _hold(self) -> None:
        self.holding.set()
        time.sleep(self.seconds)


def test_a_writer_holds_the_store_while_200_unsubscribes_arrive_and_every_one_holds_before_the_next_send(
    delivery, store_url
):
    leaving = [f"leaver{n}@example.com" for n in range(UNSUBSCRIBES)]
    staying = ["stay1@example.com", "stay2@example.com"]
    ids = delivery.enqueue(leaving + staying)
    urls = [links.unsubscribe_url(delivery.settings, SHOP, sid) for sid in ids[:UNSUBSCRIBES]]

    holder = StoreHolder(store_url, HOLD_SECONDS)
    holder.start()
    assert holder.holding.wait(10)
    started = time.monotonic()

    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda url: client.post(url, data=ONE_CLICK), urls))
    answered_in = time.monotonic() - started

    assert [answer.status_code for answer in answers] == [200] * UNSUBSCRIBES
    assert all("You are unsubscribed" in answer.text for answer in answers)
    assert not holder.released.is_set(), f"answered in {answered_in:.1f} s: the lock was gone already"
    spooled = spool_of(delivery.settings.data_dir).path.read_text()
    assert spooled.count("\n") == UNSUBSCRIBES and "@" not in spooled  # ids only, no contact

    holder.join(HOLD_SECONDS + 10)
    report = delivery.run(lanes=["sendgrid"])  # the next send, right after the writer let go

    assert report.unsubscribes_applied == UNSUBSCRIBES
    assert (report.sent, report.skipped) == (len(staying), UNSUBSCRIBES)
    assert sorted(r.recipient for r in delivery.account("sendgrid").requests) == staying
    with delivery.engine.connect() as connection:
        rows = connection.execute(sa.select(subscription_table.c.contact, subscription_table.c.status))
        statuses = {contact: status for contact, status in rows}
        suppressed = set(connection.execute(sa.select(suppressions.c.contact)).scalars())
    assert {statuses[contact] for contact in leaving} == {"unsubscribed"}
    assert suppressed == set(leaving)
    assert not spool_of(delivery.settings.data_dir).pending()


def test_the_spool_is_durable_idempotent_and_survives_a_crashed_applier(store_engine, tmp_path):
    with store_engine.begin() as connection:
        ada, bob = signup(connection, "ada@example.com"), signup(connection, "bob@example.com", variant=2)
    spool = Spool(tmp_path / "spool")
    spool.append(Unsubscribe(shop=SHOP, subscription_id=ada, at=NOW))
    spool.append(Unsubscribe(shop="other-shop.myshopify.com", subscription_id=bob, at=NOW))  # not its shop
    # an applier that crashed after taking the file: its copy is applied by the next one
    spool._take()
    spool.append(Unsubscribe(shop=SHOP, subscription_id=ada, at=NOW + timedelta(minutes=1)))  # twice
    with spool.path.open("a") as torn:  # a line cut by a crash mid-write, never acknowledged
        torn.write('{"shop": "test-shop.myshopify.com", "subscr')

    assert spool.apply(store_engine) == 3
    assert not spool.pending() and spool.apply(store_engine) == 0
    with store_engine.connect() as connection:
        first, second = (subscriptions.get_subscription(connection, sid) for sid in (ada, bob))
    assert (first["status"], first["unsubscribed_at"]) == ("unsubscribed", NOW)
    assert second["status"] == "active"


def test_a_spooled_unsubscribe_ends_only_what_the_person_had_asked_for_by_then(store_engine, tmp_path):
    """Spooled at NOW, applied hours later: the alerts the person asked for afterwards (one confirmed, one
    waiting for its confirmation, with its confirmation email) are theirs and stay; no suppression undoes
    the newer consent."""
    later = NOW + timedelta(hours=1)
    spool = Spool(tmp_path / "spool")
    with store_engine.begin() as connection:
        old = signup(connection, "ada@example.com")
    spool.append(Unsubscribe(shop=SHOP, subscription_id=old, at=NOW))
    with store_engine.begin() as connection:
        confirmed = signup(connection, "ada@example.com", variant=2, now=later)
        waiting = subscriptions.subscribe(
            connection,
            shop=SHOP,
            variant_id="gid://shopify/ProductVariant/3",
            product_id="gid://shopify/Product/1003",
            channel="email",
            contact="ada@example.com",
            locale="en",
            client_id=None,
            consent=CONSENT,
            confirm_by=later + timedelta(hours=72),
            now=later,
        ).subscription_id
        outbox.enqueue(
            connection,
            shop=SHOP,
            kind=outbox.CONFIRMATION,
            channel="email",
            contact="ada@example.com",
            locale="en",
            subscription_id=waiting,
            now=later,
        )

    assert spool.apply(store_engine) == 1
    with store_engine.connect() as connection:
        statuses = {
            sid: subscriptions.get_subscription(connection, sid)["status"]
            for sid in (old, confirmed, waiting)
        }
        suppressed = connection.execute(sa.select(suppressions.c.contact)).scalars().all()
        unsent = connection.execute(sa.select(outbox_messages.c.status)).scalars().all()
    assert statuses == {old: "unsubscribed", confirmed: "active", waiting: "pending"}
    assert suppressed == []
    assert unsent == ["pending"]


def test_a_busy_store_leaves_the_spool_in_place_for_the_next_applier(store_url, tmp_path):
    if not store_url.startswith("sqlite"):
        pytest.skip("the SQLite write lock is what this test holds")
    engine = create_store_engine(store_url)
    with engine.begin() as connection:
        ada = signup(connection, "ada@example.com")
    spool = Spool(tmp_path / "spool")
    spool.append(Unsubscribe(shop=SHOP, subscription_id=ada, at=NOW))
    holder = StoreHolder(store_url, 2)
    holder.start()
    assert holder.holding.wait(10)
    impatient = sa.create_engine(store_url, connect_args={"timeout": 0.1})
    with pytest.raises(sa.exc.OperationalError):
        spool.apply(impatient)
    assert spool.pending()
    holder.join(10)
    assert spool.apply(engine) == 1
    engine.dispose()
    impatient.dispose()
