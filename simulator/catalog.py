"""The demo shop's catalog and opening stock, built from a seed.

Products come from a fixed list (a scenario takes the first N); opening quantities are drawn per level.
Two products are there for the rules' edge cases: a gift card that is not tracked and a scarf made to order
(inventory policy CONTINUE); neither can ever be sold out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from simulator.store import CONTINUE, DENY, Level, Location, Product, Shop, Store, Variant

SHOP_NAME = "Demo Outfitters"
CURRENCY = "EUR"
TIMEZONE = "Europe/Berlin"
# Inventory item ids above 2**53, like real ones: a float parser loses them, only exact integers survive.
FIRST_INVENTORY_ITEM_ID = 2**53 + 1001


@dataclass(frozen=True)
class ProductSpec:
    title: str
    options: tuple[str, ...]
    price: str
    tracked: bool = True
    policy: str = DENY


PRODUCTS = (
    ProductSpec("Merino Crew Sweater", ("S", "M", "L"), "89.00"),
    ProductSpec("Rain Shell Jacket", ("S", "M", "L", "XL"), "149.00"),
    ProductSpec("Gift Card", ("Default",), "50.00", tracked=False),
    ProductSpec("Wool Beanie", ("Grey", "Navy", "Rust"), "24.00"),
    ProductSpec("Hand-knit Scarf", ("Oat", "Moss"), "65.00", policy=CONTINUE),
    ProductSpec("Trail Runner Socks", ("S", "M", "L"), "14.50"),
    ProductSpec("Down Vest", ("S", "M", "L"), "119.00"),
    ProductSpec("Linen Shirt", ("S", "M", "L"), "59.90"),
    ProductSpec("Leather Belt", ("85", "95", "105"), "45.00"),
    ProductSpec("Canvas Tote", ("Natural", "Black"), "29.00"),
)

LOCATIONS = (
    (70_000_001, "Berlin Warehouse", True, True),
    (70_000_002, "Hamburg Store", True, True),
    (70_000_003, "Old Leipzig Depot", False, False),
    (
        70_000_004,
        "Kreuzberg Shop",
        True,
        False,
    ),  # a retail store: its stock is for walk-ins, not online orders
)
RETAIL_LOCATION = 70_000_004
FIRST_LEVEL_NUMBER = 113_000_001  # InventoryLevel ids are their own numbers, not the location's


def handle(title: str) -> str:
    return "-".join(title.lower().replace("-", " ").split())


def build_store(product_count: int, rng: random.Random, start: datetime, shop_domain: str) -> Store:
    """The shop as it stands at `start`: about a quarter of the tracked variants already sold out online (the
    retail store may still hold some), the inactive depot holding stock nobody can sell."""
    opened = start - timedelta(days=90)
    store = Store(Shop(60_000_001, shop_domain, SHOP_NAME, CURRENCY, TIMEZONE, "owner@example.com", opened))
    for location_id, name, active, online in LOCATIONS:
        store.locations[location_id] = Location(location_id, name, active, online, opened)
    online_ids = [lid for lid, _, active, online in LOCATIONS if active and online]
    inactive_ids = [lid for lid, _, active, _ in LOCATIONS if not active]
    level_numbers = iter(range(FIRST_LEVEL_NUMBER, FIRST_LEVEL_NUMBER + 10_000))
    variant_id, item_id = 44_001, FIRST_INVENTORY_ITEM_ID
    for number, spec in enumerate(PRODUCTS[:product_count]):
        product = Product(
            8_001 + number, spec.title, handle(spec.title), SHOP_NAME, opened, updated_at=opened
        )
        store.products[product.id] = product
        for option in spec.options:
            sku = f"{''.join(w[0] for w in spec.title.split()).upper()}-{option.upper()}"
            variant = Variant(
                variant_id,
                product.id,
                option,
                sku,
                Decimal(spec.price),
                spec.policy,
                item_id,
                spec.tracked,
                opened,
                opened,
            )
            store.add_variant(variant)
            sold_out = variant.restockable and rng.random() < 0.25
            for location_id in online_ids:
                quantity = 0 if sold_out or not spec.tracked else rng.choice((0, 1, 2, 2, 3, 4, 5))
                store.add_level(Level(location_id, item_id, quantity, opened, start, next(level_numbers)))
            if spec.tracked:  # the retail store holds some of everything, sold out online or not
                store.add_level(
                    Level(
                        RETAIL_LOCATION, item_id, rng.choice((0, 1, 2, 3)), opened, start, next(level_numbers)
                    )
                )
            if number == 0:
                for location_id in inactive_ids:
                    store.add_level(Level(location_id, item_id, 2, opened, start, next(level_numbers)))
            variant_id += 1
            item_id += 1
    return store
