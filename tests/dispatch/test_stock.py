"""The live stock re-check at send time, against the simulator's Shopify Admin GraphQL over real HTTP: a
variant that sold out again between enqueue and send has its jobs deferred, not sent; once it is back in
stock (the restock detection decides releases them) they are sent, in their place; a variant in stock is
sent at once. One read serves every variant of a batch (a few variants per request)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from seed_rows import NOW
from sim_harness import SHOP as SIM_SHOP
from sim_harness import TOKEN, FakeStorefront, serving, world_config

from backinstock.settings import ShopSettings
from backinstock.store import jobs
from simulator.gids import gid
from simulator.world import World


@pytest.fixture
def shop() -> Iterator[tuple[World, str]]:
    """The simulated shop (its clock standing still: nothing happens in it unless the test does it)."""
    with FakeStorefront() as storefront:
        world = World(world_config(storefront.url))
        with serving(world) as url:
            yield world, url


def online_variants(world: World, count: int) -> list:
    """Variants that can sell out and are stocked where online orders are filled from."""
    found = [
        variant
        for variant in world.store.variants.values()
        if variant.restockable and world.store.on_sale(variant) and world.store.online_levels(variant)
    ]
    return found[:count]


def set_sellable(world: World, variant, units: int) -> None:
    """`units` at the first online level, none at the others: what a sale or a restock leaves."""
    first, *others = world.store.online_levels(variant)
    first.available = units
    for level in others:
        level.available = 0


def test_sold_out_again_is_deferred_then_sent_once_back_in_stock(delivery, shop):
    world, url = shop
    gone, kept = online_variants(world, 2)
    settings = delivery.with_settings(
        shops=[ShopSettings(domain=SIM_SHOP, access_token=TOKEN, admin_api_url=url, timezone="UTC")],
        dispatch={"stock_check": True},
    )

    def enqueue(variant, emails: list[str]) -> None:
        delivery.enqueue(
            emails,
            shop=SIM_SHOP,
            variant_id=gid("ProductVariant", variant.id),
            product_id=gid("Product", variant.product_id),
        )

    enqueue(gone, ["gone1@example.com", "gone2@example.com"])
    enqueue(kept, ["kept1@example.com", "kept2@example.com"])
    set_sellable(world, gone, 0)  # sold out again after the restock that made these jobs
    set_sellable(world, kept, 3)

    report = delivery.run(lanes=["sendgrid"], settings=settings)

    sendgrid = delivery.account("sendgrid")
    assert sorted(request.recipient for request in sendgrid.requests) == [
        "kept1@example.com",
        "kept2@example.com",
    ]
    by_variant = Counter((job.variant_id, job.status) for job in delivery.jobs())
    assert by_variant == {
        (gid("ProductVariant", gone.id), "deferred"): 2,
        (gid("ProductVariant", kept.id), "sent"): 2,
    }
    deferred = [job for job in delivery.jobs() if job.status == "deferred"]
    assert all(job.last_error.startswith("sold out again at send time: 0 sellable") for job in deferred)
    assert (report.deferred, report.sent, report.stock_checks, report.stock_unchecked) == (2, 2, 1, 0)

    # Nothing happens to the deferred jobs while the variant stays sold out.
    delivery.clock.set(NOW + timedelta(minutes=5))
    assert delivery.run(lanes=["sendgrid"], settings=settings).claimed == 0

    # Back in stock: detection decides the restock and releases the deferred jobs; they are sent.
    set_sellable(world, gone, 4)
    restocked = NOW + timedelta(minutes=10)
    delivery.clock.set(restocked)
    with delivery.engine.begin() as connection:
        released = jobs.release_deferred(
            connection, shop=SIM_SHOP, variant_id=gid("ProductVariant", gone.id), decided_at=restocked,
            now=restocked,
        )  # fmt: skip
    assert released == 2
    report = delivery.run(lanes=["sendgrid"], settings=settings)
    assert (report.sent, report.deferred) == (2, 0)
    assert Counter(job.status for job in delivery.jobs()) == {"sent": 4}
    assert Counter(request.recipient for request in sendgrid.requests) == {
        f"{name}@example.com": 1 for name in ("gone1", "gone2", "kept1", "kept2")
    }
