"""Restocks and the subscriptions they answer, worked out from the event log alone.

The rules are docs/architecture.md's ("The timeline", "Sellable quantity", "Restock", "Targets"),
re-implemented here from their text; nothing is imported from the product. They judge what the product
could know, so their input is what the simulator told it and when:

- a webhook it delivered (the first delivery of each webhook id: the product's inbox keeps one), known from
  the instant it was delivered;
- a row it served to a poll (inventory levels, variants, products, locations), known from that instant.

A level fact takes effect at Shopify's updated_at, but never before anything the product had already learned
about the item; a stale or repeated fact changes nothing. A variant's, product's or location's change takes
effect when served (the first version of each from the beginning). A restock is decided at the first instant
what was known confirmed it, so the schedule of the product's cycles changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

BEGINNING = datetime(1900, 1, 1, tzinfo=UTC)
IN, OUT, NOT_RESTOCKABLE = "in_stock", "out_of_stock", "not_restockable"


@dataclass(frozen=True)
class Fact:
    """Something the product learned about an inventory item: a level's state, or a tick (a change of the
    variant, its product, a location) at which the item's stock is looked at again."""

    known_at: datetime
    kind: str  # level | tick
    updated_at: datetime
    source: str  # poll | webhook | variant | product | location
    arrival: int  # the log's order, breaking ties the way the product's arrival order does
    location: str | None = None
    available: int | None = None
    connected: bool = True

    @property
    def order(self) -> tuple:
        return (self.known_at, self.kind, self.updated_at, self.source, self.arrival)


@dataclass
class Versions:
    """What the product knew of an entity's attributes: (known_at, value), in order of learning."""

    known: list[tuple[datetime, Any]] = field(default_factory=list)

    def learn(self, at: datetime, value: Any) -> bool:
        """Keep a served version when it differs from the last one; True when it did."""
        if self.known and self.known[-1][1] == value:
            return False
        self.known.append((at, value))
        return True

    def at(self, instant: datetime, known_by: datetime) -> Any:
        """The version in force at `instant`: the first from the beginning, each later one from when it was
        learned; None when nothing in force then was known by `known_by`."""
        chosen = None
        for number, (learned, value) in enumerate(self.known):
            applies_from = BEGINNING if number == 0 else learned
            if applies_from <= instant:
                chosen = (learned, value)
        return chosen[1] if chosen is not None and chosen[0] <= known_by else None


@dataclass(frozen=True)
class Step:
    effective_at: datetime
    known_at: datetime
    quantity: int
    state: str


@dataclass(frozen=True)
class Segment:
    state: str
    started_at: datetime
    start_known_at: datetime
    ended_at: datetime | None
    end_known_at: datetime | None
    previous_lasting: str | None
    quantity: int


@dataclass(frozen=True)
class Restock:
    variant_id: str
    restocked_at: datetime
    decided_at: datetime
    fired_by: str
    cooldown_hours: float
    sellable_quantity: int


@dataclass
class Knowledge:
    """Everything the product learned, gathered from the log."""

    facts: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))
    variants: dict[str, Versions] = field(default_factory=lambda: defaultdict(Versions))  # by variant id
    products: dict[str, Versions] = field(default_factory=lambda: defaultdict(Versions))
    locations: dict[str, Versions] = field(default_factory=lambda: defaultdict(Versions))
    item_variant: dict[str, str] = field(default_factory=dict)
    variant_product: dict[str, str] = field(default_factory=dict)


def learn(events: Iterable[dict[str, Any]], as_of: datetime, parse) -> Knowledge:
    """Collect what the product was told up to `as_of` (`parse` turns the log's ISO text into datetimes)."""
    knowledge = Knowledge()
    delivered: set[str] = set()
    levels_at: dict[str, set[str]] = defaultdict(set)  # items the product heard of, by location
    for event in events:
        at = parse(event["at"])
        if at > as_of:
            continue
        kind = event["kind"]
        if kind == "webhook" and event.get("status") == 200 and event["webhook_id"] not in delivered:
            delivered.add(event["webhook_id"])
            if event.get("inventory_item_id") is None:
                continue
            disconnect = event["topic"] == "inventory_levels/disconnect"
            updated = parse(event["triggered_at"] if disconnect else event["updated_at"])
            _level(knowledge, levels_at, event, at, min(updated, at), "webhook", not disconnect)
        elif kind == "served_level":
            _level(
                knowledge,
                levels_at,
                event,
                at,
                min(parse(event["updated_at"]), at),
                "poll",
                event["is_active"],
            )
        elif kind == "served_variant":
            value = (
                event["product_id"],
                event["inventory_item_id"],
                event["tracked"],
                event["inventory_policy"],
            )
            knowledge.variant_product[event["variant_id"]] = event["product_id"]
            knowledge.item_variant[event["inventory_item_id"]] = event["variant_id"]
            if knowledge.variants[event["variant_id"]].learn(at, value):
                _tick(knowledge, [event["inventory_item_id"]], at, "variant", event["seq"])
        elif kind == "served_product":
            if knowledge.products[event["product_id"]].learn(at, event["status"]):
                items = [
                    item
                    for item, variant in knowledge.item_variant.items()
                    if knowledge.variant_product.get(variant) == event["product_id"]
                ]
                _tick(knowledge, items, at, "product", event["seq"])
        elif kind == "served_location":
            value = (event["is_active"], event["fulfills_online_orders"])
            if knowledge.locations[event["location_id"]].learn(at, value):
                _tick(knowledge, sorted(levels_at[event["location_id"]]), at, "location", event["seq"])
    return knowledge


def _level(knowledge, levels_at, event, at, updated, source, connected) -> None:
    item, location = event["inventory_item_id"], event["location_id"]
    levels_at[location].add(item)
    knowledge.facts[item].append(
        Fact(at, "level", updated, source, event["seq"], location, event.get("available"), bool(connected))
    )


def _tick(knowledge: Knowledge, items: Iterable[str], at: datetime, source: str, arrival: int) -> None:
    for item in items:
        knowledge.facts[item].append(Fact(at, "tick", at, source, arrival))


def history(item: str, knowledge: Knowledge, threshold: int) -> list[Step]:
    """The item's sellable history on the product's timeline, one step per fact that took effect."""
    facts = sorted(knowledge.facts[item], key=lambda fact: fact.order)
    newest: dict[str, datetime] = {}
    last_value: dict[str, tuple] = {}
    accepted: list[Fact] = []
    for fact in facts:
        if fact.kind == "level":
            before = newest.get(fact.location)
            value = (fact.available, fact.connected)
            if before is not None and (
                fact.updated_at < before or (fact.updated_at == before and value == last_value[fact.location])
            ):
                last_value[fact.location] = value
                continue
            newest[fact.location] = max(fact.updated_at, before or fact.updated_at)
            last_value[fact.location] = value
        accepted.append(fact)
    # nothing learned at an instant takes effect before what was learned earlier
    floor, groups, timed = BEGINNING, defaultdict(list), []
    for fact in accepted:
        groups[fact.known_at].append(fact)
    for known_at in sorted(groups):
        group = groups[known_at]
        timed += [(max(fact.updated_at, floor), fact) for fact in group]
        floor = max(floor, *(fact.updated_at for fact in group))
    timed.sort(key=lambda pair: (pair[1].known_at, pair[0], pair[1].order))
    levels: dict[str, tuple[int | None, bool]] = {}
    steps: list[Step] = []
    for effective_at, fact in timed:
        if fact.kind == "level":
            levels[fact.location] = (fact.available, fact.connected)
        state = _state(item, knowledge, levels, effective_at, fact.known_at, threshold)
        steps.append(Step(effective_at, fact.known_at, *state))
    return steps


def _state(item, knowledge, levels, at, known_by, threshold) -> tuple[int, str]:
    variant_id = knowledge.item_variant.get(item)
    variant = knowledge.variants[variant_id].at(at, known_by) if variant_id else None
    quantity = 0
    for location, (available, connected) in levels.items():
        flags = knowledge.locations[location].at(at, known_by)
        if connected and flags is not None and flags[0] and flags[1]:
            quantity += max(available or 0, 0)
    if variant is None:
        return quantity, NOT_RESTOCKABLE
    product_id, _item, tracked, policy = variant
    status = knowledge.products[product_id].at(at, known_by)
    if not tracked or policy != "DENY" or (status is not None and status != "ACTIVE"):
        return quantity, NOT_RESTOCKABLE
    return quantity, IN if quantity >= threshold else OUT


def segments(steps: list[Step], debounce: timedelta) -> list[Segment]:
    """Runs of one stock state, each with the last lasting state before it (not_restockable skipped)."""
    runs: list[list[Step]] = []
    for step in steps:
        if runs and runs[-1][0].state == step.state:
            runs[-1].append(step)
        else:
            runs.append([step])
    found: list[Segment] = []
    lasting = None
    for number, run in enumerate(runs):
        after = runs[number + 1][0] if number + 1 < len(runs) else None
        found.append(
            Segment(
                run[0].state,
                run[0].effective_at,
                run[0].known_at,
                after.effective_at if after else None,
                after.known_at if after else None,
                lasting,
                run[0].quantity,
            )
        )
        if after and run[0].state != NOT_RESTOCKABLE and after.effective_at - run[0].effective_at >= debounce:
            lasting = run[0].state
    return found


def restocks(
    variant_id: str, found: list[Segment], signups: list[datetime], as_of: datetime, rules
) -> list[Restock]:
    """The fired restocks of a variant: candidates outside the last restock's cooldown, and the first
    instant waiting subscribers can be told, in the order they were decided."""
    debounce = timedelta(minutes=rules.debounce_minutes)
    cooldown = timedelta(hours=rules.cooldown_hours)
    fired: list[Restock] = []
    last_at, last_decided = BEGINNING, BEGINNING
    while True:
        options = []
        for segment in found:
            confirmed = _confirmed(segment, segment.started_at, debounce, as_of)
            if (
                segment.state == IN
                and segment.previous_lasting == OUT
                and confirmed is not None
                and segment.started_at > last_at
                and segment.started_at >= last_at + (cooldown if fired else timedelta(0))
            ):
                options.append((max(confirmed, last_decided), segment.started_at, "restock", segment))
        waiting = [signup for signup in signups if signup > last_at]
        if waiting:
            base = max(last_at + (cooldown if fired else timedelta(0)), min(waiting))
            for segment in found:
                if segment.state != IN or (segment.ended_at is not None and segment.ended_at <= base):
                    continue
                told = max(base, segment.started_at)
                confirmed = _confirmed(segment, told, debounce, as_of)
                if confirmed is not None:
                    options.append((max(confirmed, last_decided), told, "waiting_subscribers", segment))
        options = [option for option in options if option[0] <= as_of]
        if not options:
            return fired
        decided, at, fired_by, segment = min(options, key=lambda option: option[:3])
        fired.append(Restock(variant_id, at, decided, fired_by, rules.cooldown_hours, segment.quantity))
        last_at, last_decided = at, decided


def _confirmed(segment: Segment, told: datetime, debounce: timedelta, as_of: datetime) -> datetime | None:
    """When staying in stock from `told` for the debounce was confirmed by what was known, or None."""
    confirm_at = max(told + debounce, segment.start_known_at)
    if segment.ended_at is None:
        return confirm_at if confirm_at <= as_of else None
    if segment.ended_at - told >= debounce or segment.end_known_at > confirm_at:
        return confirm_at
    return None


def fired_restocks(
    events: list[dict[str, Any]], signups: list[tuple[str, datetime]], as_of: datetime, rules, parse
) -> list[Restock]:
    """Every restock fired as of `as_of`, in order of restocked_at; `signups` are the subscriptions in
    effect, as (variant id, instant it took effect)."""
    knowledge = learn(events, as_of, parse)
    waiting: dict[str, list[datetime]] = defaultdict(list)
    for variant_id, signed_up_at in signups:
        if signed_up_at <= as_of:
            waiting[variant_id].append(signed_up_at)
    found = []
    for item in knowledge.facts:
        variant_id = knowledge.item_variant.get(item)
        if variant_id is None:
            continue
        steps = history(item, knowledge, rules.threshold)
        runs = segments(steps, timedelta(minutes=rules.debounce_minutes))
        found += restocks(variant_id, runs, sorted(waiting[variant_id]), as_of, rules)
    return sorted(found, key=lambda restock: (restock.restocked_at, restock.variant_id))
