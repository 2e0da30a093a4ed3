"""How shoppers check out, drawn from seeded streams: the parts of an order that make revenue hard to count.

Every decision is a pure function of a random stream the world hands in: the presentment currency a shopper
pays in and the order's own exchange rate, account or guest checkout, a different email at checkout, a
discount code, other items in the cart, what the storefront carried into the order from an alert's click
(cart attribute, landing page), and what happens to the order later (cancelled within hours, refunded in
part or in full days later).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from simulator.store import Checkout, Customer, Order, Store, Variant

# Shop currency (EUR) per unit of each presentment currency, before the day's drift.
BASE_RATES = {"USD": Decimal("0.92"), "GBP": Decimal("1.17"), "CHF": Decimal("1.05")}
FOREIGN_SHARE = 0.2  # shoppers who pay in another currency than the shop's
ACCOUNT_SHARE = 0.6  # shoppers with a customer account (the rest check out as guests)
FREE_SHIPPING_FROM = Decimal("60.00")
SHIPPING_FEE = Decimal("4.90")
DISCOUNT_CHANCE = 0.15
DISCOUNT_PERCENT = Decimal(10)
CROSS_SELL_CHANCE = 0.3
OTHER_EMAIL_CHANCE = 0.12  # an alert's reader who checks out as a guest with another address
CART_ATTRIBUTE_CHANCE = 0.7  # the theme copies the click token into a cart attribute
JOURNEY_READY_CHANCE = 0.9  # Shopify has the order's visits (landing page) ready
CANCEL_CHANCE = 0.03
REFUND_CHANCE = 0.08
CLICK_TOKEN_ATTRIBUTE = "_bis_click"
CLICK_TOKEN_PARAMETER = "bis_click"


@dataclass(frozen=True)
class BuyerProfile:
    """What stays the same for one shopper across orders: currency, account."""

    number: int
    email: str
    currency: str | None  # None: the shop's currency
    customer: Customer | None


def buyer_profile(rng: random.Random, number: int, email: str) -> BuyerProfile:
    currency = rng.choice(sorted(BASE_RATES)) if rng.random() < FOREIGN_SHARE else None
    customer = Customer(7_000_000 + number, email) if rng.random() < ACCOUNT_SHARE else None
    return BuyerProfile(number, email, currency, customer)


def day_rate(seed: int, currency: str, at: datetime) -> Decimal:
    """The day's rate: the base rate drifting up to ±2 % from day to day."""
    drift = random.Random(f"{seed}/fx/{currency}/{at.date().isoformat()}").uniform(-0.02, 0.02)
    return BASE_RATES[currency] * Decimal(str(round(1 + drift, 6)))


def order_rate(rng: random.Random, seed: int, currency: str | None, at: datetime) -> Decimal:
    """The order's own rate: the day's rate, moved a little within the day."""
    if currency is None:
        return Decimal(1)
    return (day_rate(seed, currency, at) * Decimal(str(round(1 + rng.uniform(-0.002, 0.002), 6)))).quantize(
        Decimal("0.000001")
    )


def click_token(url: str | None) -> str | None:
    """The signed click token the product put into the link the shopper landed on."""
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(CLICK_TOKEN_PARAMETER)
    return values[0] if values else None


def checkout(
    rng: random.Random,
    seed: int,
    buyer: BuyerProfile,
    at: datetime,
    landing_page: str | None = None,
    from_alert: bool = False,
) -> Checkout:
    """The checkout of one order. A shopper who came from an alert's click carries its landing page, and
    the theme usually copies the click token into a cart attribute; some of them pay as a guest with
    another email address than the one the alert went to."""
    email, customer = buyer.email, buyer.customer
    if from_alert and rng.random() < OTHER_EMAIL_CHANCE:
        email, customer = f"shopper-{buyer.number:04d}.checkout@example.net", None
    token = click_token(landing_page)
    attributes = ((CLICK_TOKEN_ATTRIBUTE, token),) if token and rng.random() < CART_ATTRIBUTE_CHANCE else ()
    return Checkout(
        email=email,
        customer=customer,
        presentment_currency=buyer.currency,
        rate=order_rate(rng, seed, buyer.currency, at),
        discount_percent=DISCOUNT_PERCENT if rng.random() < DISCOUNT_CHANCE else Decimal(0),
        custom_attributes=attributes,
        landing_page=landing_page,
        journey_ready=rng.random() < JOURNEY_READY_CHANCE,
    )


def cart(rng: random.Random, store: Store, variant: Variant, quantity: int) -> list[tuple[Variant, int]]:
    """The variant wanted, and sometimes one or two other items that are in stock: another size of the
    same product, or something else."""
    lines = [(variant, quantity)]
    if rng.random() >= CROSS_SELL_CHANCE:
        return lines
    for _ in range(rng.randint(1, 2)):
        taken = {line_variant.id for line_variant, _ in lines}
        same_product = rng.random() < 0.4
        pool = sorted(
            (
                other
                for other in store.variants.values()
                if other.id not in taken
                and (other.product_id == variant.product_id) == same_product
                and store.can_sell(other)
                and (not other.restockable or store.sellable(other) >= 1)
            ),
            key=lambda other: other.id,
        )
        if pool:
            lines.append((rng.choice(pool), 1))
    return lines


def shipping_fee(store: Store, lines: list[tuple[Variant, int]]) -> Decimal:
    merchandise = sum((variant.price * quantity for variant, quantity in lines), Decimal(0))
    return Decimal(0) if merchandise >= FREE_SHIPPING_FROM else SHIPPING_FEE


@dataclass(frozen=True)
class Aftermath:
    """What happens to an order later: cancelled at `cancel_at`, or refunded at `refund_at` (`whole`: every
    line; else one unit of one line)."""

    cancel_at: datetime | None = None
    refund_at: datetime | None = None
    whole: bool = False
    line_index: int = 0


def aftermath(rng: random.Random, order: Order) -> Aftermath:
    roll = rng.random()
    if roll < CANCEL_CHANCE:
        return Aftermath(cancel_at=order.created_at + timedelta(seconds=rng.randint(1800, 86_400)))
    if roll < CANCEL_CHANCE + REFUND_CHANCE:
        return Aftermath(
            refund_at=order.created_at + timedelta(seconds=rng.randint(2 * 86_400, 10 * 86_400)),
            whole=rng.random() < 0.4,
            line_index=rng.randrange(len(order.lines)),
        )
    return Aftermath()
