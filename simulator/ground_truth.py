"""Ground truth from the event log alone: what the product's pipeline should report, worked out apart.

The rules are those of docs/architecture.md, re-implemented here from their text (nothing is imported from
the product), with the rule parameters as arguments:

- restocks: simulator/restock_truth.py, from what the simulator told the product and when (the sellable
  stock on the product's timeline, debounced, decided when confirmed by what was known, outside the last
  restock's cooldown, and the first instant the subscribers waiting since (signups in effect) can be told);
- signups (double opt-in): a signup request the storefront accepted (2xx) takes effect when its person
  clicks the confirmation, if that is before `confirm_hours` after the request and the contact did not opt
  out in between; a shop without double opt-in takes it at the request, unless the contact had opted out
  before (and not confirmed a signup since), who must confirm all the same;
- targets: a subscription is answered by its variant's first restock at or after it took effect, unless
  its contact unsubscribed after that and at or before the restock;
- KPIs, attribution and the holdout's lift: simulator/kpis.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from simulator.instants import format_instant, parse_instant
from simulator.kpis import (
    Activity,
    OrderFacts,
    Windows,
    activities,
    attribute,
    caused_figures,
    caused_orders,
    figures,
    grouped,
    jobs_from,
    lift,
    local_day,
    orders_as_of,
    parse_times,
    succeeded,
)
from simulator.restock_truth import fired_restocks

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Rules:
    threshold: int = 1
    debounce_minutes: float = 5
    cooldown_hours: float = 24
    click_window_hours: float = 120
    open_window_hours: float = 120
    attribution_scope: str = "same_product"
    holdout_delay_minutes: float = 60  # the lift's window: how long held-out targets wait
    double_opt_in: bool = True
    confirm_hours: float = 72

    @property
    def windows(self) -> Windows:
        return Windows(self.click_window_hours, self.open_window_hours)


@dataclass(frozen=True)
class Subscription:
    """A signup that took effect: at `signed_up_at`, by the event numbered `seq` (request or confirmation),
    which is also the subscription's number in the simulator's own terms."""

    variant_id: str
    email: str
    requested_at: datetime
    signed_up_at: datetime
    seq: int
    confirmed: bool  # by the person's click (which lifts an earlier opt-out)


@dataclass(frozen=True)
class Target:
    subscription_id: int  # the Subscription's seq
    variant_id: str
    email: str
    signed_up_at: datetime
    restocked_at: datetime


# --- from the log to the figures ---------------------------------------------------------------------------


def by_kind(events: list[dict[str, Any]], as_of: datetime) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in parse_times(events):
        if event["at"] <= as_of:
            kinds[event["kind"]].append(event)
    return kinds


def _opt_outs(unsubscribes: list[dict[str, Any]]) -> list[tuple[int, datetime, str]]:
    return [
        (event["seq"], event["at"], event["email"]) for event in unsubscribes if succeeded(event["status"])
    ]


def subscriptions_in_effect(
    signups: list[dict[str, Any]],
    confirms: list[dict[str, Any]],
    unsubscribes: list[dict[str, Any]],
    rules: Rules,
) -> list[Subscription]:
    """The signups that took effect (see the module docstring), in the order they did."""
    opt_outs = _opt_outs(unsubscribes)
    window = timedelta(hours=rules.confirm_hours)
    effective: list[Subscription] = []
    for signup in sorted((s for s in signups if succeeded(s["status"])), key=lambda s: s["seq"]):
        email, variant = signup["email"], signup["variant_id"]
        if not rules.double_opt_in and not _still_opted_out(email, signup["seq"], opt_outs, effective):
            effective.append(Subscription(variant, email, signup["at"], signup["at"], signup["seq"], False))
            continue
        click = next(
            (
                confirm
                for confirm in sorted(confirms, key=lambda c: c["seq"])
                if (confirm["email"], confirm["variant_id"]) == (email, variant)
                and confirm["seq"] > signup["seq"]
                and confirm["at"] < signup["at"] + window
            ),
            None,
        )
        if click is None or any(
            who == email and signup["seq"] < seq < click["seq"] for seq, _, who in opt_outs
        ):
            continue
        effective.append(Subscription(variant, email, signup["at"], click["at"], click["seq"], True))
    return sorted(effective, key=lambda subscription: subscription.seq)


def _still_opted_out(
    email: str, before_seq: int, opt_outs: list[tuple[int, datetime, str]], effective: list[Subscription]
) -> bool:
    """True when the contact's latest opt-out before `before_seq` was not lifted by a confirmation since."""
    last_opt_out = max((seq for seq, _, who in opt_outs if who == email and seq < before_seq), default=None)
    if last_opt_out is None:
        return False
    return not any(s.email == email and s.confirmed and last_opt_out < s.seq < before_seq for s in effective)


def _targets(
    signups: list[Subscription], unsubscribes: list[dict[str, Any]], restocks: list[tuple[str, datetime]]
) -> list[Target]:
    opt_outs = _opt_outs(unsubscribes)
    targets = []
    for signup in sorted(signups, key=lambda s: (s.signed_up_at, s.seq)):
        answer = next(
            (at for variant, at in restocks if variant == signup.variant_id and at >= signup.signed_up_at),
            None,
        )
        if answer is None:
            continue
        cancelled = any(
            email == signup.email and seq > signup.seq and at <= answer for seq, at, email in opt_outs
        )
        if not cancelled:
            targets.append(Target(signup.seq, signup.variant_id, signup.email, signup.signed_up_at, answer))
    return targets


def ground_truth(events: list[dict[str, Any]], as_of: datetime, rules: Rules = Rules()) -> dict[str, Any]:
    """The ground-truth document of the simulator's HTTP API (`GET /_sim/ground-truth`)."""
    shop = next(event for event in events if event["kind"] == "shop")
    zone = ZoneInfo(shop["timezone"])
    kinds = by_kind(events, as_of)
    products = {event["variant_id"]: event["product_id"] for event in kinds["variant"]}
    signups = subscriptions_in_effect(kinds["signup"], kinds["confirm"], kinds["unsubscribe"], rules)
    restocks = [
        (restock.variant_id, restock.restocked_at)
        for restock in fired_restocks(
            events, [(s.variant_id, s.signed_up_at) for s in signups], as_of, rules, parse_instant
        )
    ]
    targets = _targets(signups, kinds["unsubscribe"], restocks)
    jobs = jobs_from(kinds["send"], kinds["open"] + kinds["click"], products, targets)
    orders = orders_as_of(kinds)
    attribution = attribute(orders, jobs, rules.windows, rules.attribution_scope)
    rows = activities(kinds, products, restocks, signups, targets, jobs, orders, attribution)

    def day(row: Activity) -> date:
        return local_day(row.at, zone)

    by_day = grouped(rows, day)
    caused = caused_orders(orders)
    daily = []
    current, last_day = local_day(parse_instant(shop["at"]), zone), local_day(as_of, zone)
    while current <= last_day:
        daily.append({"date": current.isoformat(), **figures(by_day.get(current, [])),
                      **caused_figures(o for o in caused if local_day(o.at, zone) == current)})  # fmt: skip
        current += timedelta(days=1)
    orders_by_day = grouped((row for row in rows if row.name == "order"), day)
    channels = grouped(rows, lambda row: (day(row), row.dims.channel) if row.dims.channel else None)
    return {
        "as_of": format_instant(as_of),
        "shop": shop["shop"],
        "currency_code": shop["currency_code"],
        "timezone": shop["timezone"],
        "rules": vars(rules),
        "totals": {**figures(rows), **caused_figures(caused)},
        "daily": daily,
        "variants_daily": [
            {"date": d.isoformat(), "product_id": p, "variant_id": v, **figures(group)}
            for (d, p, v), group in sorted(
                grouped(rows, lambda r: (day(r), r.dims.product_id, r.dims.variant_id)).items(), key=str
            )
            if group
        ],
        "products_daily": [
            {"date": d.isoformat(), "product_id": p, **figures(group)}
            for (d, p), group in sorted(grouped(rows, lambda r: (day(r), r.dims.product_id)).items(), key=str)
        ],
        "channels_daily": [
            {"date": d.isoformat(), "channel": c, **figures(group + orders_by_day.get(d, []))}
            for (d, c), group in sorted(channels.items(), key=str)
        ],
        "restock_events": [
            {"variant_id": v, "restocked_at": at, **figures(group)}
            for (v, at), group in sorted(grouped(rows, lambda r: r.dims.restock).items())
        ],
        "restocks": [{"variant_id": variant, "restocked_at": format_instant(at)} for variant, at in restocks],
        "targets": [
            {
                "subscription_id": target.subscription_id,
                "variant_id": target.variant_id,
                "email": target.email,
                "signed_up_at": format_instant(target.signed_up_at),
                "restocked_at": format_instant(target.restocked_at),
            }
            for target in targets
        ],
        "orders": [
            {
                "order_id": order.event["order_id"],
                "ordered_at": format_instant(order.at),
                "cancelled": order.cancelled,
                "test": bool(order.event.get("test")),
                "net_revenue": f"{order.net:.2f}",
            }
            for order in orders
        ],
        "attributions": _credited(attribution.default, orders),
        "attributions_click_only": _credited(attribution.click_only, orders),
        "lift": lift(
            jobs, orders, as_of, timedelta(minutes=rules.holdout_delay_minutes), rules.attribution_scope
        ),
    }


def _credited(view: dict[tuple[str, str], str], orders: list[OrderFacts]) -> list[dict[str, Any]]:
    nets = {(o.event["order_id"], line["line_item_id"]): line["net"] for o in orders for line in o.lines}
    return [
        {
            "order_id": order_id,
            "line_item_id": line_id,
            "job_id": job_id,
            "net": f"{nets[(order_id, line_id)]:.2f}",
        }
        for (order_id, line_id), job_id in sorted(view.items())
    ]
