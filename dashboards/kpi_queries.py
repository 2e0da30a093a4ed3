"""What the KPI and waiting-demand pages show, read from the published marts (dashboards/marts.py).

Every query is for one shop (money is in the shop's currency) and an optional range of days in the shop's
time zone (`start`, `end`, both inclusive). Tables return every row; pages show the first `limit` and the
CSV export all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dashboards.kpi_definitions import COUNT_KEYS, with_rates
from dashboards.marts import Marts

KPI_MARTS = (
    "kpi_daily",
    "kpi_summary",
    "kpi_channels_daily",
    "kpi_products_daily",
    "kpi_variants_daily",
    "kpi_restock_events",
)
LIFT_MART = "notification_lift"
WAITING_MART = "waiting_demand"


@dataclass(frozen=True)
class Scope:
    """The filters every KPI query takes: one shop and an optional range of its days."""

    shop: str
    start: date | None = None
    end: date | None = None

    @property
    def whole_history(self) -> bool:
        return self.start is None and self.end is None

    def parameters(self) -> dict[str, Any]:
        return {"shop": self.shop, "start": self.start or date.min, "end": self.end or date.max}


DAY_FILTER = "shop = $shop AND kpi_date BETWEEN $start AND $end"
SUMS = ", ".join(f"sum({key}) AS {key}" for key in COUNT_KEYS)


def shops(marts: Marts) -> list[dict[str, Any]]:
    """The shops the marts know, with their currency and first and last day."""
    return marts.rows(
        "SELECT shop, any_value(currency_code) AS currency_code, min(kpi_date) AS first_day, "
        "max(kpi_date) AS last_day FROM {kpi_daily} GROUP BY shop ORDER BY shop"
    )


def totals(marts: Marts, scope: Scope) -> dict[str, Any]:
    """Counts and rates for the scope. Over the whole history they come from kpi_summary, whose viewers are
    distinct over all time; over a range, from the days' sums (viewers counted once per day)."""
    if scope.whole_history:
        found = marts.rows(
            f"SELECT {', '.join(COUNT_KEYS)} FROM {{kpi_summary}} WHERE shop = $shop", {"shop": scope.shop}
        )
    else:
        found = marts.rows(f"SELECT {SUMS} FROM {{kpi_daily}} WHERE {DAY_FILTER}", scope.parameters())
    counts = found[0] if found else dict.fromkeys(COUNT_KEYS, 0)
    return with_rates({key: value or 0 for key, value in counts.items()})


def daily(marts: Marts, scope: Scope) -> list[dict[str, Any]]:
    """One row per day of the range, oldest first."""
    found = marts.rows(
        f"SELECT kpi_date, {', '.join(COUNT_KEYS)} FROM {{kpi_daily}} WHERE {DAY_FILTER} ORDER BY kpi_date",
        scope.parameters(),
    )
    return [with_rates(row) for row in found]


def by_channel(marts: Marts, scope: Scope) -> list[dict[str, Any]]:
    """Per channel over the range; total orders and revenue are the whole shop's (the channel's share)."""
    found = marts.rows(
        f"SELECT channel, {SUMS} FROM {{kpi_channels_daily}} WHERE {DAY_FILTER} "
        "GROUP BY channel ORDER BY channel",
        scope.parameters(),
    )
    return [with_rates(row) for row in found]


def by_product(marts: Marts, scope: Scope) -> list[dict[str, Any]]:
    """Per product over the range, the most attributed revenue first; titles from the published catalog."""
    return _by_catalog(marts, scope, "kpi_products_daily", ["product_id"])


def by_variant(marts: Marts, scope: Scope) -> list[dict[str, Any]]:
    """Per variant over the range, the most attributed revenue first."""
    return _by_catalog(marts, scope, "kpi_variants_daily", ["product_id", "variant_id"])


def _by_catalog(marts: Marts, scope: Scope, mart: str, keys: list[str]) -> list[dict[str, Any]]:
    grouped = ", ".join(f"k.{key}" for key in keys)
    if "variant_id" in keys:
        titles = "any_value(c.product_title) AS product_title, any_value(c.variant_title) AS variant_title"
        catalog = "{variants}"
        join_on = "c.shop = k.shop AND c.variant_id = k.variant_id"
    else:  # one title per product, not one row per variant
        titles = "any_value(c.product_title) AS product_title"
        catalog = (
            "(SELECT shop, product_id, any_value(product_title) AS product_title "
            "FROM {variants} GROUP BY ALL)"
        )
        join_on = "c.shop = k.shop AND c.product_id = k.product_id"
    sums = ", ".join(f"sum(k.{key}) AS {key}" for key in COUNT_KEYS)
    found = marts.rows(
        f"SELECT {grouped}, {titles}, {sums} FROM {{{mart}}} AS k LEFT JOIN {catalog} AS c ON {join_on} "
        f"WHERE k.shop = $shop AND k.kpi_date BETWEEN $start AND $end GROUP BY {grouped} "
        f"ORDER BY attributed_revenue DESC NULLS LAST, notifications_sent DESC NULLS LAST, {grouped}",
        scope.parameters(),
    )
    return [with_rates(row) for row in found]


RESTOCK_COUNTS = (
    "notification_jobs",
    "notifications_attempted",
    "notifications_sent",
    "notifications_delivered",
    "notifications_opened",
    "notifications_clicked",
    "notifications_converted",
    "attributed_orders",
    "attributed_revenue",
)


def restock_events(marts: Marts, scope: Scope) -> list[dict[str, Any]]:
    """Each restock of the range (by its day) with what its alerts did, newest first."""
    found = marts.rows(
        "SELECT r.restock_event_id, r.restocked_at, r.restock_date, r.product_id, r.variant_id, "
        f"c.product_title, c.variant_title, {', '.join('r.' + key for key in RESTOCK_COUNTS)} "
        "FROM {kpi_restock_events} AS r "
        "LEFT JOIN {variants} AS c ON c.shop = r.shop AND c.variant_id = r.variant_id "
        "WHERE r.shop = $shop AND r.restock_date BETWEEN $start AND $end "
        "ORDER BY r.restocked_at DESC, r.restock_event_id",
        scope.parameters(),
    )
    return [with_rates(row) for row in found]


def lift(marts: Marts, shop: str) -> dict[str, Any] | None:
    """The holdout's lift estimate for the shop, when the pipeline publishes one and a holdout ran."""
    if not marts.is_published(LIFT_MART):
        return None
    found = marts.rows("SELECT * FROM {notification_lift} WHERE shop = $shop", {"shop": shop})
    return found[0] if found else None


def waiting_demand(marts: Marts, shop: str) -> list[dict[str, Any]]:
    """Sold-out variants with subscribers waiting, in the mart's order (reorder first at the top)."""
    return marts.rows(
        "SELECT * EXCLUDE (as_of) FROM {waiting_demand} WHERE shop = $shop ORDER BY demand_rank",
        {"shop": shop},
    )
