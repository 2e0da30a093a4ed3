"""The KPIs the dashboard shows, each with the definition a marketer sees on hover.

The marts hold counts per day (and per channel, product, variant); a rate over any range or group is its
numerator's sum over its denominator's sum, never an average of daily rates. The wording follows
docs/architecture.md ("KPIs"), where the rules are stated once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    key: str
    label: str
    numerator: str
    denominator: str
    definition: str


@dataclass(frozen=True)
class Count:
    key: str
    label: str
    definition: str
    money: bool = False


RATES: tuple[Rate, ...] = (
    Rate(
        "signup_rate",
        "Signup rate",
        "signups",
        "variant_viewers",
        "Subscriptions, counted when confirmed (double opt-in), over distinct (viewer, variant) pairs that "
        "viewed a sold-out product page. Over a date range, viewers are counted once per day.",
    ),
    Rate(
        "delivery_success_rate",
        "Delivery success",
        "notifications_delivered",
        "notifications_attempted",
        "Alerts the provider accepted with no bounce or drop reported, over alerts with at least one "
        "attempt, on the day they were sent.",
    ),
    Rate(
        "open_rate",
        "Opened",
        "notifications_opened",
        "notifications_delivered",
        "Delivered alerts with an open or a click, over delivered alerts.",
    ),
    Rate(
        "click_rate",
        "Clicked",
        "notifications_clicked",
        "notifications_delivered",
        "Delivered alerts with a click on their product link, over delivered alerts.",
    ),
    Rate(
        "conversion_rate",
        "Attributed conversion",
        "notifications_converted",
        "notifications_sent",
        "Sent alerts with at least one order line credited to them (last touch: a click or open within "
        "5 days, an SMS within 12 hours, same product), over alerts sent that day: a cohort by send day, "
        "never above 100 %.",
    ),
    Rate(
        "revenue_contribution",
        "Revenue contribution",
        "attributed_revenue",
        "total_revenue",
        "Net revenue of the order lines credited to alerts over the net revenue of all counting orders "
        "(after discounts and refunds, without shipping and taxes), on the day the order was placed.",
    ),
)

COUNTS: tuple[Count, ...] = (
    Count("variant_viewers", "Viewers", "Distinct (viewer, variant) pairs with a product view."),
    Count("signups", "Signups", "Subscriptions, on the day they were confirmed."),
    Count("restocks", "Restocks", "Fired restocks (back in stock after a lasting sell-out)."),
    Count("notifications_attempted", "Attempted", "Alerts with at least one attempt, on their send day."),
    Count("notifications_sent", "Sent", "Alerts the provider accepted, on their send day."),
    Count("notifications_delivered", "Delivered", "Sent alerts with no bounce or drop reported."),
    Count("notifications_opened", "Opened", "Sent alerts with an open or a click."),
    Count("notifications_clicked", "Clicked", "Sent alerts with a click."),
    Count("notifications_converted", "Converted", "Sent alerts with an order line credited to them."),
    Count("attributed_orders", "Attributed orders", "Counting orders with a line credited to an alert."),
    Count("total_orders", "Orders", "Counting orders (not test, not cancelled), on the day placed."),
    Count(
        "attributed_revenue",
        "Attributed revenue",
        "Net revenue of the lines credited to alerts.",
        money=True,
    ),
    Count("total_revenue", "Revenue", "Net revenue of counting orders.", money=True),
)

COUNT_KEYS: tuple[str, ...] = tuple(count.key for count in COUNTS)
RATE_KEYS: tuple[str, ...] = tuple(rate.key for rate in RATES)
DEFINITIONS: dict[str, str] = {item.key: item.definition for item in (*RATES, *COUNTS)}
LABELS: dict[str, str] = {item.key: item.label for item in (*RATES, *COUNTS)}
