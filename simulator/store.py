"""The simulated Shopify store: catalog, inventory levels and orders, and the two ways they change.

State only; no HTTP and no randomness. Inventory changes come back as `LevelChange`s so the caller can log
them and send the webhook Shopify would send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

DENY = "DENY"
CONTINUE = "CONTINUE"
ZERO = Decimal("0.00")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), ROUND_HALF_UP)


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


@dataclass
class Product:
    id: int
    title: str
    handle: str
    vendor: str
    created_at: datetime
    status: str = "ACTIVE"  # ACTIVE, ARCHIVED, DRAFT: only an active product is sold
    updated_at: datetime | None = None


@dataclass
class Variant:
    id: int
    product_id: int
    title: str
    sku: str
    price: Decimal
    inventory_policy: str  # a merchant may switch it (CONTINUE: preorders) and back
    inventory_item_id: int
    tracked: bool
    created_at: datetime
    updated_at: datetime | None = None

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
    id: int = 0  # Shopify's InventoryLevel number: opaque, never the location's
    is_active: bool = True  # deactivated: the item is no longer stocked there (its stock cannot be sold)


@dataclass(frozen=True)
class LevelChange:
    level: Level
    variant: Variant
    delta: int
    reason: str


@dataclass(frozen=True)
class Customer:
    """A shopper with an account; guests check out without one."""

    id: int
    email: str


@dataclass(frozen=True)
class Checkout:
    """How an order is placed: who (checkout email, account or guest), in which presentment currency at
    which rate (shop currency per presentment unit, the order's own), with which discount, and what the
    storefront carried into it (cart attributes, the session's landing page)."""

    email: str
    customer: Customer | None = None
    presentment_currency: str | None = None  # None: the shop's currency
    rate: Decimal = Decimal(1)
    discount_percent: Decimal = ZERO
    custom_attributes: tuple[tuple[str, str], ...] = ()
    landing_page: str | None = None
    journey_ready: bool = True
    test: bool = False


@dataclass
class LineItem:
    """Amounts in the order's presentment currency; `discount` is every discount allocated to the line."""

    id: int
    variant_id: int
    product_id: int
    quantity: int
    unit_price: Decimal
    discount: Decimal = ZERO

    @property
    def original_total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def net(self) -> Decimal:
        return self.original_total - self.discount


@dataclass(frozen=True)
class RefundLine:
    line_item_id: int
    quantity: int
    subtotal: Decimal  # presentment currency, after the line's discounts


@dataclass(frozen=True)
class Refund:
    id: int
    created_at: datetime
    lines: tuple[RefundLine, ...]
    restocked: bool


@dataclass
class Order:
    id: int
    number: int
    created_at: datetime
    lines: list[LineItem]
    checkout: Checkout
    shop_currency: str
    shipping: Decimal = ZERO  # presentment currency
    updated_at: datetime = field(init=False)
    cancelled_at: datetime | None = None
    refunds: list[Refund] = field(default_factory=list)
    # units taken per line and location, so a cancellation puts them back where they came from
    taken: dict[int, dict[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.updated_at = self.created_at

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def email(self) -> str:
        return self.checkout.email

    @property
    def presentment_currency(self) -> str:
        return self.checkout.presentment_currency or self.shop_currency

    def shop_money(self, amount: Decimal) -> Decimal:
        """A presentment amount in shop currency at the order's own rate (each amount converted alone)."""
        return cents(amount * self.checkout.rate)

    def refund_lines(self, line: LineItem) -> list[RefundLine]:
        return [r for refund in self.refunds for r in refund.lines if r.line_item_id == line.id]

    def remaining_quantity(self, line: LineItem) -> int:
        return line.quantity - sum(r.quantity for r in self.refund_lines(line))

    def remaining_net(self, line: LineItem) -> Decimal:
        """The line's presentment amount not refunded yet."""
        return line.net - sum((r.subtotal for r in self.refund_lines(line)), ZERO)

    def line_shop_net(self, line: LineItem) -> Decimal:
        """What the line brings in, in shop currency, after discounts and refunds: each amount converted
        at the order's rate on its own, as Shopify reports them."""
        refunded = sum((self.shop_money(r.subtotal) for r in self.refund_lines(line)), ZERO)
        return self.shop_money(line.original_total) - self.shop_money(line.discount) - refunded

    @property
    def subtotal(self) -> Decimal:
        return sum((line.net for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping

    @property
    def current_total(self) -> Decimal:
        if self.cancelled_at is not None:
            return ZERO
        return self.total - sum((r.subtotal for refund in self.refunds for r in refund.lines), ZERO)


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
    next_refund_id: int = 9_000_001
    refunds: dict[int, tuple[Order, Refund]] = field(default_factory=dict)

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

    def online_levels(self, variant: Variant) -> list[Level]:
        """The levels online orders are filled from: active, at active locations that fulfil online orders."""
        return [
            level
            for level in self.levels_of(variant)
            if level.is_active
            and self.locations[level.location_id].is_active
            and self.locations[level.location_id].fulfills_online_orders
        ]

    def sellable(self, variant: Variant) -> int:
        """Units the online store can sell (a retail store's stock is for walk-ins)."""
        return sum(max(level.available, 0) for level in self.online_levels(variant))

    def on_sale(self, variant: Variant) -> bool:
        return self.products[variant.product_id].status == "ACTIVE"

    def can_sell(self, variant: Variant) -> bool:
        """What the shop's storefront allows: untracked and CONTINUE variants always sell."""
        return self.on_sale(variant) and (not variant.restockable or self.sellable(variant) >= 1)

    def adjust(
        self, location_id: int, inventory_item_id: int, delta: int, at: datetime, reason: str
    ) -> LevelChange:
        level = self.levels[(location_id, inventory_item_id)]
        level.available += delta
        level.updated_at = at
        return LevelChange(level, self.variant_by_item[inventory_item_id], delta, reason)

    def place_order(
        self, checkout: Checkout, lines: list[tuple[Variant, int]], at: datetime, shipping_fee: Decimal = ZERO
    ) -> tuple[Order, list[LevelChange]]:
        """Create the order and take each tracked line's units from active locations, fullest first.

        Prices are converted to the presentment currency at the checkout's rate; a percentage discount is
        spread over the lines in proportion to their totals (the remainder on the last line), as Shopify
        allocates an order-level discount; `shipping_fee` is in shop currency."""
        changes = []
        items = []
        taken: dict[int, dict[int, int]] = {}
        for variant, quantity in lines:
            line_id = self.next_line_item_id
            self.next_line_item_id += 1
            if variant.tracked:
                taken[line_id] = self._allocate(variant, quantity)
                for location_id, units in taken[line_id].items():
                    changes.append(self.adjust(location_id, variant.inventory_item_id, -units, at, "sale"))
            unit_price = cents(variant.price / checkout.rate)
            items.append(LineItem(line_id, variant.id, variant.product_id, quantity, unit_price))
        _allocate_discount(items, checkout.discount_percent)
        order = Order(
            self.next_order_id,
            self.next_order_number,
            at,
            items,
            checkout,
            self.shop.currency,
            shipping=cents(shipping_fee / checkout.rate),
            taken=taken,
        )
        self.orders[order.id] = order
        self.next_order_id += 1
        self.next_order_number += 1
        return order, changes

    def refund(self, order: Order, lines: list[tuple[LineItem, int]], at: datetime) -> Refund:
        """A return: `quantity` units of each line refunded at their discounted price, not restocked."""
        refund_lines = []
        for line, quantity in lines:
            whole = quantity >= order.remaining_quantity(line)
            subtotal = order.remaining_net(line) if whole else cents(line.net * quantity / line.quantity)
            refund_lines.append(RefundLine(line.id, min(quantity, order.remaining_quantity(line)), subtotal))
        return self._record_refund(order, refund_lines, at, restocked=False)

    def cancel(self, order: Order, at: datetime) -> tuple[Refund, list[LevelChange]]:
        """Cancel: every unit not refunded yet is refunded and put back where it was taken from."""
        changes = []
        refund_lines = []
        for line in order.lines:
            remaining = order.remaining_quantity(line)
            if remaining <= 0:
                continue
            refund_lines.append(RefundLine(line.id, remaining, order.remaining_net(line)))
            variant = self.variants[line.variant_id]
            to_return = remaining
            for location_id, units in order.taken.get(line.id, {}).items():
                back = min(units, to_return)
                if back:
                    changes.append(self.adjust(location_id, variant.inventory_item_id, back, at, "cancel"))
                    to_return -= back
        order.cancelled_at = at
        refund = self._record_refund(order, refund_lines, at, restocked=True)
        return refund, changes

    def _record_refund(self, order: Order, lines: list[RefundLine], at: datetime, restocked: bool) -> Refund:
        refund = Refund(self.next_refund_id, at, tuple(lines), restocked)
        self.next_refund_id += 1
        order.refunds.append(refund)
        order.updated_at = at
        self.refunds[refund.id] = (order, refund)
        return refund

    def _allocate(self, variant: Variant, quantity: int) -> dict[int, int]:
        """Units to take per online location, fullest first; a shortfall (CONTINUE) comes from the fullest."""
        sources = sorted(self.online_levels(variant), key=lambda lv: (-lv.available, lv.location_id))
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


def _allocate_discount(lines: list[LineItem], percent: Decimal) -> None:
    if not percent or not lines:
        return
    total = sum((line.original_total for line in lines), ZERO)
    discount = cents(total * percent / 100)
    left = discount
    for line in lines[:-1]:
        line.discount = min(cents(line.original_total * percent / 100), left)
        left -= line.discount
    lines[-1].discount = left
