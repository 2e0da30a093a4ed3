"""KPIs computed from the event log alone: what the product's pipeline should report, worked out apart.

The rules are those of docs/architecture.md, re-implemented here from their text (nothing is imported from
the product), with the rule parameters as arguments:

- sellable quantity: sum over locations of max(available, 0), each location's latest change at or before t;
- restocks: in stock while sellable >= threshold; segments of constant state shorter than the debounce are
  dropped (the last one measured to as_of), same-state neighbours merged, an in segment after an out segment
  is a candidate at its start, fired under a sequential cooldown;
- targets: a subscription (signup answered 201) is answered by its variant's first restock at or after its
  creation, unless its contact unsubscribed after signing up and at or before that restock;
- attribution: last touch (open or click of a sent job by the order's email) with touched_at <= T <=
  touched_at + window; ties go to the click, then the higher job id;
- days are dates in the shop's time zone; a job counts on the day it was sent, an order on the day placed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from simulator.instants import format_instant, parse_instant

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Rules:
    threshold: int = 1
    debounce_minutes: float = 5
    cooldown_hours: float = 24
    click_window_hours: float = 120
    open_window_hours: float = 120


@dataclass(frozen=True)
class Touch:
    job_id: str
    kind: str  # open | click
    at: datetime


@dataclass(frozen=True)
class Target:
    subscription_id: Any
    variant_id: str
    email: str
    signed_up_at: datetime
    restocked_at: datetime


# --- the rules, as pure functions ---------------------------------------------------------------------------


def sellable_history(changes: Iterable[tuple[datetime, str, int]]) -> list[tuple[datetime, int]]:
    """(instant, sellable) after each instant with changes; `changes` are (instant, location, available)."""
    latest: dict[str, int] = {}
    history: list[tuple[datetime, int]] = []
    for at, location, available in sorted(changes, key=lambda change: change[0]):
        latest[location] = available
        sellable = sum(max(value, 0) for value in latest.values())
        if history and history[-1][0] == at:
            history[-1] = (at, sellable)
        else:
            history.append((at, sellable))
    return history


def restock_instants(history: list[tuple[datetime, int]], as_of: datetime, rules: Rules) -> list[datetime]:
    """The restocks a variant's sellable history gives as of `as_of` (see the module docstring)."""
    states: list[tuple[datetime, bool]] = []
    for at, sellable in history:
        if at > as_of:
            break
        in_stock = sellable >= rules.threshold
        if not states or states[-1][1] != in_stock:
            states.append((at, in_stock))
    ends = [start for start, _ in states[1:]] + [as_of] * bool(states)
    debounce = timedelta(minutes=rules.debounce_minutes)
    lasting = [
        (start, state) for (start, state), end in zip(states, ends, strict=True) if end - start >= debounce
    ]
    merged: list[tuple[datetime, bool]] = []
    for start, state in lasting:
        if not merged or merged[-1][1] != state:
            merged.append((start, state))
    candidates = [
        start for (start, state), (_, before) in zip(merged[1:], merged, strict=False) if state and not before
    ]
    fired: list[datetime] = []
    cooldown = timedelta(hours=rules.cooldown_hours)
    for candidate in candidates:
        if not fired or candidate >= fired[-1] + cooldown:
            fired.append(candidate)
    return fired


def last_touch(touches: Iterable[Touch], ordered_at: datetime, rules: Rules) -> Touch | None:
    """The touch an order placed at `ordered_at` is attributed to, among its email's touches."""
    windows = {
        "click": timedelta(hours=rules.click_window_hours),
        "open": timedelta(hours=rules.open_window_hours),
    }
    eligible = [touch for touch in touches if touch.at <= ordered_at <= touch.at + windows[touch.kind]]
    return max(eligible, key=lambda t: (t.at, t.kind == "click", _job_order(t.job_id)), default=None)


def _job_order(job_id: str) -> tuple[int, int | str]:
    """Job ids compare as numbers when they are numbers."""
    return (0, int(job_id)) if job_id.isdigit() else (1, job_id)


def succeeded(status: int | None) -> bool:
    return status is not None and status < 400


# --- from the log to the figures ---------------------------------------------------------------------------


@dataclass
class Activity:
    """Everything counted, each with the instant it counts at."""

    views: list[tuple[datetime, str]]
    signups: list[datetime]
    restocks: list[tuple[str, datetime]]
    targets: list[Target]
    attempted: dict[str, datetime]
    sent: dict[str, datetime]
    opened: set[str]
    clicked: set[str]
    orders: list[dict[str, Any]]
    attributed: dict[str, Touch]


def collect(events: list[dict[str, Any]], as_of: datetime, rules: Rules) -> Activity:
    seen = [{**event, "at": parse_instant(event["at"])} for event in events]
    seen = [event for event in seen if event["at"] <= as_of]
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in seen:
        kinds[event["kind"]].append(event)

    restocks = _restocks(kinds["variant"], kinds["inventory"], as_of, rules)
    targets = _targets(kinds["signup"], kinds["unsubscribe"], restocks)
    attempted: dict[str, datetime] = {}
    sent: dict[str, datetime] = {}
    sent_to: dict[str, str] = {}
    for event in kinds["send"]:
        job = event.get("job_id")
        if job is None:
            continue
        attempted.setdefault(job, event["at"])
        if event["status"] == 202:
            sent.setdefault(job, event["at"])
            sent_to.setdefault(job, event["email"])
    touches = [
        Touch(event["job_id"], event["kind"], event["at"])
        for event in kinds["open"] + kinds["click"]
        if event["job_id"] in sent and succeeded(event["status"])
    ]
    touches_by_email: dict[str, list[Touch]] = defaultdict(list)
    for touch in touches:
        touches_by_email[sent_to[touch.job_id]].append(touch)
    attributed = {}
    for order in kinds["order"]:
        touch = last_touch(touches_by_email.get(order["email"].strip().lower(), []), order["at"], rules)
        if touch is not None:
            attributed[order["order_id"]] = touch
    return Activity(
        views=[(event["at"], event["client_id"]) for event in kinds["view"] if succeeded(event["status"])],
        signups=[event["at"] for event in kinds["signup"] if event["status"] == 201],
        restocks=restocks,
        targets=targets,
        attempted=attempted,
        sent=sent,
        opened={touch.job_id for touch in touches},
        clicked={touch.job_id for touch in touches if touch.kind == "click"},
        orders=kinds["order"],
        attributed=attributed,
    )


def _restocks(
    variants: list[dict[str, Any]], inventory: list[dict[str, Any]], as_of: datetime, rules: Rules
) -> list[tuple[str, datetime]]:
    restockable = {
        event["inventory_item_id"]: event["variant_id"]
        for event in variants
        if event["tracked"] and event["inventory_policy"] == "DENY"
    }
    changes: dict[str, list[tuple[datetime, str, int]]] = defaultdict(list)
    for event in inventory:
        if event["inventory_item_id"] in restockable:
            changes[event["inventory_item_id"]].append(
                (event["at"], event["location_id"], event["available"])
            )
    found = [
        (restockable[item], at)
        for item, item_changes in changes.items()
        for at in restock_instants(sellable_history(item_changes), as_of, rules)
    ]
    return sorted(found, key=lambda restock: (restock[1], restock[0]))


def _targets(
    signups: list[dict[str, Any]], unsubscribes: list[dict[str, Any]], restocks: list[tuple[str, datetime]]
) -> list[Target]:
    opt_outs = [
        (event["seq"], event["at"], event["email"]) for event in unsubscribes if succeeded(event["status"])
    ]
    targets = []
    for signup in sorted((s for s in signups if s["status"] == 201), key=lambda s: (s["at"], s["seq"])):
        answer = next(
            (at for variant, at in restocks if variant == signup["variant_id"] and at >= signup["at"]), None
        )
        if answer is None:
            continue
        cancelled = any(
            email == signup["email"] and seq > signup["seq"] and at <= answer for seq, at, email in opt_outs
        )
        if not cancelled:
            targets.append(
                Target(signup["subscription_id"], signup["variant_id"], signup["email"], signup["at"], answer)
            )
    return targets


@dataclass
class Tally:
    viewers: set[str]
    signups: int = 0
    restocks: int = 0
    jobs: int = 0
    attempted: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    attributed_orders: int = 0
    attributed_revenue: Decimal = ZERO
    orders: int = 0
    revenue: Decimal = ZERO
    orders_caused: int = 0
    revenue_caused: Decimal = ZERO

    def figures(self) -> dict[str, Any]:
        viewers = len(self.viewers)
        return {
            "product_viewers": viewers,
            "signups": self.signups,
            "restocks": self.restocks,
            "notification_jobs": self.jobs,
            "notifications_attempted": self.attempted,
            "notifications_sent": self.sent,
            "notifications_opened": self.opened,
            "notifications_clicked": self.clicked,
            "attributed_orders": self.attributed_orders,
            "attributed_revenue": f"{self.attributed_revenue:.2f}",
            "total_orders": self.orders,
            "total_revenue": f"{self.revenue:.2f}",
            "signup_rate": _rate(self.signups, viewers),
            "delivery_success_rate": _rate(self.sent, self.attempted),
            "conversion_rate": _rate(self.attributed_orders, self.sent),
            "revenue_contribution": _rate(self.attributed_revenue, self.revenue),
            "orders_caused": self.orders_caused,
            "revenue_caused": f"{self.revenue_caused:.2f}",
        }


def _rate(part: float | Decimal, whole: float | Decimal) -> float | None:
    return float(part) / float(whole) if whole else None


def ground_truth(events: list[dict[str, Any]], as_of: datetime, rules: Rules = Rules()) -> dict[str, Any]:
    """The ground-truth document of the simulator's HTTP API (`GET /_sim/ground-truth`)."""
    shop = next(event for event in events if event["kind"] == "shop")
    zone = ZoneInfo(shop["timezone"])
    activity = collect(events, as_of, rules)
    total = Tally(set())
    days: dict[date, Tally] = defaultdict(lambda: Tally(set()))

    def tallies(at: datetime) -> tuple[Tally, Tally]:
        return total, days[at.astimezone(zone).date()]

    for at, client_id in activity.views:
        for tally in tallies(at):
            tally.viewers.add(client_id)
    for at in activity.signups:
        for tally in tallies(at):
            tally.signups += 1
    for _, at in activity.restocks:
        for tally in tallies(at):
            tally.restocks += 1
    for target in activity.targets:
        for tally in tallies(target.restocked_at):
            tally.jobs += 1
    for job, first_attempt in activity.attempted.items():
        for tally in tallies(activity.sent.get(job, first_attempt)):
            tally.attempted += 1
    for job, sent_at in activity.sent.items():
        for tally in tallies(sent_at):
            tally.sent += 1
            tally.opened += job in activity.opened
            tally.clicked += job in activity.clicked
    for order in activity.orders:
        amount = Decimal(order["total"])
        for tally in tallies(order["at"]):
            tally.orders += 1
            tally.revenue += amount
            if order["order_id"] in activity.attributed:
                tally.attributed_orders += 1
                tally.attributed_revenue += amount
            if order["cause"] == "notification":
                tally.orders_caused += 1
                tally.revenue_caused += amount

    first_day = parse_instant(shop["at"]).astimezone(zone).date()
    last_day = as_of.astimezone(zone).date()
    daily = []
    day = first_day
    while day <= last_day:
        daily.append({"date": day.isoformat(), **days[day].figures()})
        day += timedelta(days=1)
    return {
        "as_of": format_instant(as_of),
        "shop": shop["shop"],
        "currency_code": shop["currency_code"],
        "timezone": shop["timezone"],
        "rules": vars(rules),
        "totals": total.figures(),
        "daily": daily,
        "restocks": [
            {"variant_id": variant, "restocked_at": format_instant(at)} for variant, at in activity.restocks
        ],
        "targets": [
            {
                "subscription_id": target.subscription_id,
                "variant_id": target.variant_id,
                "email": target.email,
                "signed_up_at": format_instant(target.signed_up_at),
                "restocked_at": format_instant(target.restocked_at),
            }
            for target in activity.targets
        ],
    }
