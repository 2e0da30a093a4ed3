"""The KPIs from the event log alone, re-implemented from the text of docs/architecture.md ("Attribution",
"KPIs", "Incrementality"); nothing here comes from the product.

The log says what happened (views, signups, sends, opens, clicks, orders with their lines in shop money,
refunds, cancellations); `collect` turns it into activities, each counted at an instant with the dimensions
it belongs to, and `figures` counts them for any grain (all time, a day, a variant, a channel, a restock).
Only the simulator knows why an order was placed: `caused` and `lift` use that knowledge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from simulator.instants import parse_instant

ZERO = Decimal("0.00")
TOUCH_RANK = {"click": 2, "open": 1}  # ties at the same instant go to the click


@dataclass(frozen=True)
class Touch:
    job_id: str
    kind: str  # open | click
    at: datetime


@dataclass(frozen=True)
class Windows:
    click_hours: float = 120
    open_hours: float = 120

    def of(self, kind: str) -> timedelta:
        return timedelta(hours=self.click_hours if kind == "click" else self.open_hours)


def job_order(job_id: str) -> tuple[int, int | str]:
    """Job ids compare as numbers when they are numbers."""
    return (0, int(job_id)) if job_id.isdigit() else (1, job_id)


def last_touch(touches: Iterable[Touch], ordered_at: datetime, windows: Windows) -> Touch | None:
    """The touch credited for something bought at `ordered_at`: the latest one whose window holds it
    (both ends inclusive); at the same instant the click, then the higher job id."""
    eligible = [touch for touch in touches if touch.at <= ordered_at <= touch.at + windows.of(touch.kind)]
    return max(eligible, key=lambda t: (t.at, TOUCH_RANK[t.kind], job_order(t.job_id)), default=None)


def in_scope(scope: str, line: dict[str, Any], job: Job) -> bool:
    if scope == "any":
        return True
    if scope == "same_variant":
        return line["variant_id"] is not None and line["variant_id"] == job.variant_id
    return line["product_id"] is not None and line["product_id"] == job.product_id


def succeeded(status: int | None) -> bool:
    return status is not None and status < 400


@dataclass(frozen=True)
class Dims:
    """What an activity belongs to besides its shop day."""

    product_id: str | None = None
    variant_id: str | None = None
    channel: str | None = None
    restock: tuple[str, str] | None = None  # (variant id, restocked_at ISO)


@dataclass(frozen=True)
class Activity:
    name: str
    entity: str
    at: datetime
    dims: Dims
    amount: Decimal = ZERO


@dataclass
class Job:
    job_id: str
    email: str
    variant_id: str
    product_id: str | None
    channel: str
    first_attempt: datetime
    sent_at: datetime | None = None
    restock: tuple[str, str] | None = None
    touches: list[Touch] = field(default_factory=list)

    @property
    def counted_at(self) -> datetime:
        return self.sent_at or self.first_attempt

    def dims(self) -> Dims:
        return Dims(self.product_id, self.variant_id, self.channel, self.restock)


@dataclass
class OrderFacts:
    """An order as of as_of: its lines with their net revenue in shop currency, and what it carried."""

    event: dict[str, Any]
    lines: list[dict[str, Any]]  # each with its `net` as a Decimal, refunds taken off
    cancelled: bool

    @property
    def counts(self) -> bool:
        return not self.cancelled and not self.event.get("test")

    @property
    def at(self) -> datetime:
        return self.event["at"]

    @property
    def contacts(self) -> set[str]:
        found = {self.event.get("email"), self.event.get("customer_email")}
        return {contact.strip().lower() for contact in found if contact}

    @property
    def token_job(self) -> str | None:
        """The job whose signed click token reached the order (a cart attribute or the landing page)."""
        event = self.event
        carried = event.get("cart_attribute") or event.get("journey_ready")
        return event.get("carried_click") if carried else None

    @property
    def net(self) -> Decimal:
        return sum((line["net"] for line in self.lines), ZERO)


def orders_as_of(events_by_kind: dict[str, list[dict[str, Any]]]) -> list[OrderFacts]:
    refunded: dict[str, Decimal] = defaultdict(lambda: ZERO)
    cancelled: set[str] = set()
    for kind in ("refund", "cancel"):
        for event in events_by_kind[kind]:
            if kind == "cancel":
                cancelled.add(event["order_id"])
            for line in event["lines"]:
                refunded[line["line_item_id"]] += Decimal(line["amount"])
    return [
        OrderFacts(
            order,
            [
                {**line, "net": Decimal(line["net"]) - refunded[line["line_item_id"]]}
                for line in order["lines"]
            ],
            order["order_id"] in cancelled,
        )
        for order in events_by_kind["order"]
    ]


@dataclass
class Attribution:
    """Which job each order line is credited to, in the default view and the click-only view."""

    default: dict[tuple[str, str], str] = field(default_factory=dict)  # (order id, line item id) -> job
    click_only: dict[tuple[str, str], str] = field(default_factory=dict)


def attribute(orders: list[OrderFacts], jobs: dict[str, Job], windows: Windows, scope: str) -> Attribution:
    by_contact: dict[str, list[Touch]] = defaultdict(list)
    for job in jobs.values():
        by_contact[job.email].extend(job.touches)
    result = Attribution()
    for order in orders:
        if not order.counts:
            continue
        candidates = [touch for contact in order.contacts for touch in by_contact.get(contact, [])]
        token_job = jobs.get(order.token_job or "")
        if token_job is not None:
            candidates += [touch for touch in token_job.touches if touch.kind == "click"]
        for line in order.lines:
            scoped = [touch for touch in candidates if in_scope(scope, line, jobs[touch.job_id])]
            key = (order.event["order_id"], line["line_item_id"])
            for view, touches in (
                (result.default, scoped),
                (result.click_only, [touch for touch in scoped if touch.kind == "click"]),
            ):
                credited = last_touch(touches, order.at, windows)
                if credited is not None:
                    view[key] = credited.job_id
    return result


def jobs_from(
    sends: list[dict[str, Any]],
    touches: list[dict[str, Any]],
    products: dict[str, str],
    targets: list[Any],
) -> dict[str, Job]:
    """Every job the provider was asked to send, with its first attempt, its acceptance, the restock it
    answers (its target: same email and variant, restocked before it was attempted) and its touches."""
    jobs: dict[str, Job] = {}
    for event in sends:
        job_id = event.get("job_id")
        if job_id is None:
            continue
        job = jobs.get(job_id)
        if job is None:
            variant = event.get("variant_id")
            job = jobs[job_id] = Job(
                job_id, (event["email"] or "").lower(), variant, products.get(variant), "email", event["at"]
            )
        if event.get("accepted", event["status"] == 202) and job.sent_at is None:
            job.sent_at = event["at"]
    unanswered = sorted(targets, key=lambda target: (target.restocked_at, target.signed_up_at))
    for job in sorted(jobs.values(), key=lambda job: (job.first_attempt, job_order(job.job_id))):
        target = next(
            (
                target
                for target in unanswered
                if target.email.lower() == job.email
                and target.variant_id == job.variant_id
                and target.restocked_at <= job.first_attempt
            ),
            None,
        )
        if target is not None:
            unanswered.remove(target)
            job.restock = (target.variant_id, target.restocked_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for event in touches:
        job = jobs.get(event["job_id"])
        if job is not None and job.sent_at is not None and succeeded(event["status"]):
            job.touches.append(Touch(job.job_id, event["kind"], event["at"]))
    return jobs


def activities(
    kinds: dict[str, list[dict[str, Any]]],
    products: dict[str, str],
    restocks: list[tuple[str, datetime]],
    signups: list[Any],
    targets: list[Any],
    jobs: dict[str, Job],
    orders: list[OrderFacts],
    attribution: Attribution,
) -> list[Activity]:
    """Everything the KPIs count, each at the instant it counts (docs/architecture.md, "KPIs")."""
    found: list[Activity] = []
    for event in kinds["view"]:
        if succeeded(event["status"]):
            variant = event["variant_id"]
            dims = Dims(products.get(variant), variant)
            found.append(Activity("product_viewed", event["client_id"], event["at"], dims))
            found.append(Activity("variant_viewed", f"{event['client_id']}|{variant}", event["at"], dims))
    for signup in signups:  # counted when they took effect (double opt-in: the confirmation)
        dims = Dims(products.get(signup.variant_id), signup.variant_id, "email")
        found.append(Activity("signup", str(signup.seq), signup.signed_up_at, dims))
    for variant, at in restocks:
        dims = Dims(products.get(variant), variant, None, (variant, at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        found.append(Activity("restock", f"{variant}|{at.isoformat()}", at, dims))
    for target in targets:
        restock = (target.variant_id, target.restocked_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        dims = Dims(products.get(target.variant_id), target.variant_id, "email", restock)
        found.append(Activity("notification_job", str(target.subscription_id), target.restocked_at, dims))
    converted = set(attribution.default.values())
    converted_by_click = set(attribution.click_only.values())
    for job in jobs.values():
        at, dims = job.counted_at, job.dims()
        flags = {
            "notification_attempted": True,
            "notification_sent": job.sent_at is not None,
            "notification_delivered": job.sent_at is not None,
            "notification_opened": job.sent_at is not None and bool(job.touches),
            "notification_clicked": any(touch.kind == "click" for touch in job.touches),
            "notification_converted": job.job_id in converted,
            "notification_converted_click_only": job.job_id in converted_by_click,
        }
        found += [Activity(name, job.job_id, at, dims) for name, flag in flags.items() if flag]
    for order in orders:
        if not order.counts:
            continue
        order_id = order.event["order_id"]
        for line in order.lines:
            dims = Dims(line["product_id"], line["variant_id"])
            found.append(Activity("order", order_id, order.at, dims, line["net"]))
            for name, view in (
                ("attributed_order", attribution.default),
                ("attributed_order_click_only", attribution.click_only),
            ):
                job_id = view.get((order_id, line["line_item_id"]))
                if job_id is not None:
                    job = jobs[job_id]
                    credited = Dims(line["product_id"], line["variant_id"], job.channel, job.restock)
                    found.append(Activity(name, order_id, order.at, credited, line["net"]))
    return found


COUNTED = {
    "product_viewers": "product_viewed",
    "variant_viewers": "variant_viewed",
    "signups": "signup",
    "restocks": "restock",
    "notification_jobs": "notification_job",
    "notifications_attempted": "notification_attempted",
    "notifications_sent": "notification_sent",
    "notifications_delivered": "notification_delivered",
    "notifications_opened": "notification_opened",
    "notifications_clicked": "notification_clicked",
    "notifications_converted": "notification_converted",
    "notifications_converted_click_only": "notification_converted_click_only",
    "attributed_orders": "attributed_order",
    "attributed_orders_click_only": "attributed_order_click_only",
    "total_orders": "order",
}
SUMMED = {
    "attributed_revenue": "attributed_order",
    "attributed_revenue_click_only": "attributed_order_click_only",
    "total_revenue": "order",
}
RATES = {
    "signup_rate": ("signups", "variant_viewers"),
    "delivery_success_rate": ("notifications_delivered", "notifications_attempted"),
    "open_rate": ("notifications_opened", "notifications_delivered"),
    "click_rate": ("notifications_clicked", "notifications_delivered"),
    "conversion_rate": ("notifications_converted", "notifications_sent"),
    "conversion_rate_click_only": ("notifications_converted_click_only", "notifications_sent"),
    "revenue_contribution": ("attributed_revenue", "total_revenue"),
    "revenue_contribution_click_only": ("attributed_revenue_click_only", "total_revenue"),
}


def figures(rows: Iterable[Activity]) -> dict[str, Any]:
    """The KPI columns of one group of activities: distinct entities per activity, summed money, rates
    (null when the denominator is 0)."""
    entities: dict[str, set[str]] = defaultdict(set)
    sums: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        entities[row.name].add(row.entity)
        sums[row.name] += row.amount
    values: dict[str, Any] = {column: len(entities[name]) for column, name in COUNTED.items()}
    values.update({column: sums[name] for column, name in SUMMED.items()})
    for column, (part, whole) in RATES.items():
        values[column] = float(values[part]) / float(values[whole]) if values[whole] else None
    for column in SUMMED:
        values[column] = f"{values[column]:.2f}"
    return values


def grouped(rows: Iterable[Activity], key: Callable[[Activity], Any | None]) -> dict[Any, list[Activity]]:
    groups: dict[Any, list[Activity]] = defaultdict(list)
    for row in rows:
        group = key(row)
        if group is not None:
            groups[group].append(row)
    return groups


def local_day(at: datetime, zone: Any) -> date:
    return at.astimezone(zone).date()


def parse_times(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "at": parse_instant(event["at"])} for event in events]


def caused_orders(orders: list[OrderFacts]) -> list[OrderFacts]:
    """Orders an alert really caused: placed from the alert by a shopper who would not have bought the
    variant on their own after its restock (the simulator knows both)."""
    return [
        order
        for order in orders
        if order.counts and order.event["cause"] == "notification" and not order.event.get("anyway_at")
    ]


def caused_figures(orders: Iterable[OrderFacts]) -> dict[str, Any]:
    chosen = list(orders)
    return {
        "orders_caused": len(chosen),
        "revenue_caused": f"{sum((order.net for order in chosen), ZERO):.2f}",
    }


def lift(
    jobs: dict[str, Job], orders: list[OrderFacts], as_of: datetime, window: timedelta, scope: str
) -> dict[str, Any]:
    """The alerts' true causal lift over the holdout's window: of the targets alerted (their message
    accepted) whose window [sent, sent + window] has ended by as_of, the share who placed an order from
    the alert inside that window that they would not have placed in it on their own (no return of their
    own planned inside it). This is what a holdout's lift estimates; only the simulator can know it."""
    alerted = {job.job_id: job for job in jobs.values() if job.sent_at and job.sent_at + window <= as_of}
    caused: dict[str, Decimal] = {}
    for order in orders:
        job = alerted.get(order.event.get("job_id") or "")
        if job is None or not order.counts or order.event["cause"] != "notification":
            continue
        assert job.sent_at is not None
        end = job.sent_at + window
        anyway = order.event.get("anyway_at")
        if order.at > end or (anyway and job.sent_at <= parse_instant(anyway) <= end):
            continue
        revenue = sum((line["net"] for line in order.lines if in_scope(scope, line, job)), ZERO)
        caused[job.job_id] = caused.get(job.job_id, ZERO) + revenue
    return {
        "window_minutes": window.total_seconds() / 60,
        "alerted_targets": len(alerted),
        "caused_conversions": len(caused),
        "true_causal_lift": len(caused) / len(alerted) if alerted else None,
        "caused_revenue": f"{sum(caused.values(), ZERO):.2f}",
    }
