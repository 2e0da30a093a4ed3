"""Scenarios: how big the shop is and how busy, and the plan of what happens when, drawn from a seed.

The plan holds what the world does of its own accord: shopper visits (with their dice already rolled, so a
visit decides the same way whatever happened before it), inventory flaps and transfers. What follows from
the state at the time (a sell-out calling for a restock, an email calling for an open) is decided while
playing, from streams of its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from simulator.delivery import Faults


@dataclass(frozen=True)
class Scenario:
    products: int
    shoppers: int
    visits_per_day: int
    flaps: int  # +1 then -1 two minutes later on a sold-out variant: noise, not a restock
    transfers: int  # all units leave a location and arrive at another a minute or three later
    retail_restocks: int = 0  # units arrive at the retail store for a variant sold out online: no restock
    deactivations: int = 0  # the only online level holding a variant's stock is deactivated (disconnect)
    policy_switches: int = 0  # a variant goes CONTINUE (preorders), back to DENY hours later
    archives: int = 0  # a product is archived: no longer sold, never restocked
    buy_chance: float = 0.2  # a visitor finding the variant in stock buys it
    signup_chance: float = 0.3  # a visitor finding it sold out asks to be told
    restock_chance: float = 0.75  # a sold-out variant gets new stock at all
    restock_delay_hours: tuple[float, float] = (8.0, 36.0)
    restock_units: tuple[int, int] = (3, 9)
    anyway_chance: float = 0.12  # a waiting subscriber who comes back on their own after a restock
    anyway_delay_hours: tuple[float, float] = (1.0, 96.0)
    test_orders_per_week: float = 1.0  # the merchant's own test checkouts (no sale)
    webhook_faults: Faults = field(default_factory=Faults)


# What real stores do to webhooks (simulator/delivery.py): some late, some twice, a few never.
HARSH_DELIVERY = Faults(lost=0.04, late=0.08, twice=0.06)

SCENARIOS = {
    "demo": Scenario(
        products=10, shoppers=600, visits_per_day=260, flaps=4, transfers=4, retail_restocks=3,
        deactivations=1, policy_switches=1, archives=1, webhook_faults=HARSH_DELIVERY,
    ),
    "small": Scenario(
        products=5, shoppers=200, visits_per_day=200, flaps=1, transfers=1, retail_restocks=2,
        deactivations=1, policy_switches=1, archives=1, webhook_faults=HARSH_DELIVERY,
    ),
    # No faults, no disturbances beyond flaps and transfers: for tests that need every webhook delivered.
    "calm": Scenario(products=5, shoppers=200, visits_per_day=200, flaps=1, transfers=1),
}  # fmt: skip

# Relative traffic by hour of the shop's day: quiet nights, busy evenings.
HOURLY_TRAFFIC = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 8, 8, 8, 9, 10, 11, 12, 12, 10, 7, 4)


@dataclass(frozen=True)
class Visit:
    at: datetime
    shopper: int  # index into the world's shoppers
    variant_id: int
    quantity: int
    buy_roll: float
    signup_roll: float


@dataclass(frozen=True)
class Disturbance:
    """Something the shop does to its inventory; `roll` picks what it applies to when it is played."""

    at: datetime
    kind: str
    roll: float
    gap_seconds: int


def random_instant(rng: random.Random, start: datetime, end: datetime, timezone: str) -> datetime:
    """A whole-second instant strictly after `start` and before `end`, following the hourly traffic."""
    zone = ZoneInfo(timezone)
    span = int((end - start).total_seconds())
    while True:
        moment = start + timedelta(seconds=rng.randint(1, span - 1))
        if rng.random() * max(HOURLY_TRAFFIC) < HOURLY_TRAFFIC[moment.astimezone(zone).hour]:
            return moment


def plan_visits(
    scenario: Scenario,
    rng: random.Random,
    start: datetime,
    end: datetime,
    timezone: str,
    variant_ids: list[int],
    shopper_count: int,
) -> list[Visit]:
    """Visits spread over the period; a few variants draw most of the traffic (they sell out first)."""
    popularity = [rng.lognormvariate(0, 0.7) for _ in variant_ids]
    days = (end - start).total_seconds() / 86_400
    visits = []
    for _ in range(round(scenario.visits_per_day * days)):
        visits.append(
            Visit(
                at=random_instant(rng, start, end, timezone),
                shopper=rng.randrange(shopper_count),
                variant_id=rng.choices(variant_ids, weights=popularity)[0],
                quantity=2 if rng.random() < 0.1 else 1,
                buy_roll=rng.random(),
                signup_roll=rng.random(),
            )
        )
    return sorted(visits, key=lambda visit: visit.at)


def plan_disturbances(
    scenario: Scenario, rng: random.Random, start: datetime, end: datetime, timezone: str
) -> list[Disturbance]:
    """The scenario's disturbances at instants following the traffic; `gap_seconds` is how long until a
    disturbance's second half (a flap's return, a transfer's arrival, a policy switched back)."""
    plans = (
        [("flap", 120)] * scenario.flaps
        + [("transfer", rng.randint(60, 180)) for _ in range(scenario.transfers)]
        + [("retail_restock", 0)] * scenario.retail_restocks
        + [("deactivation", 0)] * scenario.deactivations
        + [("policy_switch", rng.randint(6 * 3600, 30 * 3600)) for _ in range(scenario.policy_switches)]
        + [("archive", 0)] * scenario.archives
    )
    return sorted(
        (
            Disturbance(random_instant(rng, start, end, timezone), kind, rng.random(), gap)
            for kind, gap in plans
        ),
        key=lambda disturbance: disturbance.at,
    )


def plan_test_orders(
    scenario: Scenario, rng: random.Random, start: datetime, end: datetime, timezone: str
) -> list[datetime]:
    weeks = (end - start).total_seconds() / (7 * 86_400)
    count = int(scenario.test_orders_per_week * weeks + rng.random())
    return sorted(random_instant(rng, start, end, timezone) for _ in range(count))
