"""The simulated Shopify store: catalog, inventory levels and orders, and the two ways they change.

State only; no HTTP and no randomness. Inventory changes come back as `LevelChange`s so the caller can log
them and send the webhook Shopify would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

DENY = "DENY"
CONTINUE = "CONTINUE"


@dataclass(frozen=True)
class Shop:
    id: int
    domain: str
    name: str
    currency: str
    timezone: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    is_active: bool
    fulfills_online_orders: bool
    created_at: datetime


@dataclass(frozen=True)
class Product:
    id: int
    title: str
    handle: str
    vendor: str
    created_at: datetime


@dataclass(frozen=True)
class Variant:
    id: int
    product_id: int
    title: str
    sku: str
    price: Decimal
    inventory_policy: str
    inventory_item_id: int
    tracked: bool
    created_at: datetime

    @property
    def restockable(self) -> bool:
        """Only tracked variants that stop selling at zero can be sold out (and so restocked)."""
        return self.tracked and self.inventory_policy == DENY


@dataclass
class Level:
    location_id: int
    inventory_item_id: int
    available: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LevelChange:
    level: Level
    variant: Variant
    delta: int
    reason: str


@dataclass(frozen=True)
class LineItem:
    id: int
    variant_id: int
    quantity: int
    unit_price: Decimal


@dataclass
class Order:
    id: int
    number: int
    email: str
    created_at: datetime
    lines: list[LineItem]
    custom_attributes: list[tuple[str, str]]

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def updated_at(self) -> datetime:
        return self.created_at

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0.00"))


@dataclass
class Store:
    shop: Shop
    locations: dict[int, Location] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    variants: dict[int, Variant] = field(default_factory=dict)
    levels: dict[tuple[int, int], Level] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    variant_by_item: dict[int, Variant] = field(default_factory=dict)
    next_order_id: int = 5_000_001
    next_order_number: int = 1001
    next_line_item_id: int = 13_000_001

    def add_variant(self, variant: Variant) -> None:
        self.variants[variant.id] = variant
        self.variant_by_item[variant.inventory_item_id] = variant

    def add_level(self, level: Level) -> None:
        self.levels[(level.location_id, level.inventory_item_id)] = level

    def levels_of(self, variant: Variant) -> list[Level]:
        return [
            self.levels[(location_id, variant.inventory_item_id)]
            for location_id in self.locations
            if (location_id, variant.inventory_item_id) in self.levels
        ]

    def sellable(self, variant: Variant) -> int:
        return sum(max(level.available, 0) for level in self.levels_of(variant))

    def can_sell(self, variant: Variant) -> bool:
        """What the shop's storefront allows: untracked and CONTINUE variants always sell."""
        return not variant.restockable or self.sellable(variant) >= 1

    def adjust(
        self, location_id: int, inventory_item_id: int, delta: int, at: datetime, reason: str
    ) -> LevelChange:
        level = self.levels[(location_id, inventory_item_id)]
        level.available += delta
        level.updated_at = at
        return LevelChange(level, self.variant_by_item[inventory_item_id], delta, reason)

    def place_order(
        self,
        email: str,
        lines: list[tuple[Variant, int]],
        at: datetime,
        custom_attributes: list[tuple[str, str]] | None = None,
    ) -> tuple[Order, list[LevelChange]]:
        """Create the order and take each tracked line's units from active locations, fullest first."""
        changes = []
        items = []
        for variant, quantity in lines:
            if variant.tracked:
                for location_id, taken in self._allocate(variant, quantity).items():
                    changes.append(self.adjust(location_id, variant.inventory_item_id, -taken, at, "sale"))
            items.append(LineItem(self.next_line_item_id, variant.id, quantity, variant.price))
            self.next_line_item_id += 1
        order = Order(self.next_order_id, self.next_order_number, email, at, items, custom_attributes or [])
        self.orders[order.id] = order
        self.next_order_id += 1
        self.next_order_number += 1
        return order, changes

    def _allocate(self, variant: Variant, quantity: int) -> dict[int, int]:
        """Units to take per location, fullest first; a shortfall (CONTINUE) comes from the fullest."""
        sources = sorted(
            (lv for lv in self.levels_of(variant) if self.locations[lv.location_id].is_active),
            key=lambda lv: (-lv.available, lv.location_id),
        )
        taken: dict[int, int] = {}
        remaining = quantity
        for level in sources:
            take = min(remaining, max(level.available, 0))
            if take:
                taken[level.location_id] = take
                remaining -= take
        if remaining:
            taken[sources[0].location_id] = taken.get(sources[0].location_id, 0) + remaining
        return taken
