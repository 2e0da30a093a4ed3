"""Scenarios: how big the shop is and how busy, and the plan of what happens when, drawn from a seed.

The plan holds what the world does of its own accord: shopper visits (with their dice already rolled, so a
visit decides the same way whatever happened before it), inventory flaps and transfers. What follows from
the state at the time (a sell-out calling for a restock, an email calling for an open) is decided while
playing, from streams of its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Scenario:
    products: int
    shoppers: int
    visits_per_day: int
    flaps: int  # +1 then -1 two minutes later on a sold-out variant: noise, not a restock
    transfers: int  # all units leave a location and arrive at another a minute or three later
    buy_chance: float = 0.2  # a visitor finding the variant in stock buys it
    signup_chance: float = 0.3  # a visitor finding it sold out asks to be told
    restock_chance: float = 0.75  # a sold-out variant gets new stock at all
    restock_delay_hours: tuple[float, float] = (8.0, 36.0)
    restock_units: tuple[int, int] = (3, 9)
    anyway_chance: float = 0.12  # a waiting subscriber who comes back on their own after a restock
    anyway_delay_hours: tuple[float, float] = (1.0, 96.0)
    test_orders_per_week: float = 1.0  # the merchant's own test checkouts (no sale)


SCENARIOS = {
    "demo": Scenario(products=10, shoppers=600, visits_per_day=260, flaps=4, transfers=4),
    "small": Scenario(products=5, shoppers=200, visits_per_day=200, flaps=1, transfers=1),
}

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
    """A flap or a transfer; `roll` picks the variant among those it can apply to when it is played."""

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
    plans = [("flap", 120)] * scenario.flaps + [
        ("transfer", rng.randint(60, 180)) for _ in range(scenario.transfers)
    ]
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
