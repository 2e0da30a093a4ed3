"""How Shopify delivers a webhook: usually at once, sometimes minutes late (after failed attempts), sometimes
twice, sometimes never (every retry failed). Shopify's documentation: a webhook is retried 8 times over
4 hours, redeliveries carry the same X-Shopify-Webhook-Id, and delivery is not guaranteed, so apps must
reconcile by polling. The plan for one webhook is drawn from its own random stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    lost: float = 0.0  # never delivered
    late: float = 0.0  # delivered only after minutes of failed attempts
    twice: float = 0.0  # delivered, then delivered again (a retry after a timeout, or a second event)


@dataclass(frozen=True)
class Delivery:
    delay_seconds: int  # after the change; 0 is at once
    new_webhook_id: bool  # a second event for the same change carries its own webhook id


def plan(faults: Faults, rng: random.Random) -> list[Delivery]:
    """The deliveries of one webhook, in order; an empty plan is a webhook never delivered."""
    roll = rng.random()
    if roll < faults.lost:
        return []
    if roll < faults.lost + faults.late:
        return [Delivery(rng.randint(60, 900), False)]
    if roll < faults.lost + faults.late + faults.twice:
        return [Delivery(0, False), Delivery(rng.randint(5, 600), rng.random() < 0.5)]
    return [Delivery(0, False)]
