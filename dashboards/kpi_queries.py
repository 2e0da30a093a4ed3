"""What the KPI and waiting-demand pages show, read from the published marts (dashboards/marts.py).

Every query is for one shop (money is in the shop's currency) and an optional range of days in the shop's
time zone (`start`, `end`, both inclusive). Rates are computed from the sums of their counts over the range
or group (kpi_definitions.RATES), in the query. Tables return at most `limit` rows (None: all, for the CSV
export), each carrying `total_rows`, the number of rows without the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from dashboards.kpi_definitions import COUNT_KEYS, RATES
from dashboards.marts import Marts

LIFT_MART = "notification_lift"
WAITING_MART = "waiting_demand"
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


@dataclass(frozen=True)
class Scope:
    """The filters every KPI query takes: one shop and an optional range of its days."""

    shop: str
    start: date | None = None
    end: date | None = None

    @property
    def whole_history(self) -> bool:
        return self.start is None and self.end is None

    def parameters(self, limit: int | None = None) -> dict[str, Any]:
        found = {"shop": self.shop, "start": self.start or date.min, "end": self.end or date.max}
        return found | ({} if limit is None else {"limit": limit})


DAY_FILTER = "shop = $shop AND kpi_date BETWEEN $start AND $end"
SUMS = ", ".join(f"sum({key}) AS {key}" for key in COUNT_KEYS)
COUNTS = ", ".join(COUNT_KEYS)


def rates(keys: tuple[str, ...] = COUNT_KEYS) -> str:
    """The rates whose counts are among `keys`, as SQL over columns of those names (null without a
    denominator)."""
    return ", ".join(
        f"CAST({rate.numerator} AS DOUBLE) / nullif({rate.denominator}, 0) AS {rate.key}"
        for rate in RATES
        if rate.numerator in keys and rate.denominator in keys
    )


def _limited(limit: int | None) -> str:
    return "" if limit is None else " LIMIT $limit"


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
        counts = f"SELECT {COUNTS} FROM {{kpi_summary}} WHERE shop = $shop"
        parameters: dict[str, Any] = {"shop": scope.shop}
    else:
        counts = f"SELECT {SUMS} FROM {{kpi_daily}} WHERE {DAY_FILTER}"
        parameters = scope.parameters()
    found = marts.rows(f"SELECT *, {rates()} FROM ({counts})", parameters)
    if not found:
        return marts.rows(f"SELECT *, {rates()} FROM (SELECT {', '.join(f'0 AS {k}' for k in COUNT_KEYS)})")[
            0
        ]
    return {key: 0 if value is None and key in COUNT_KEYS else value for key, value in found[0].items()}


def daily(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """One row per day of the range, oldest first."""
    return marts.rows(
        f"SELECT kpi_date, {COUNTS}, {rates()}, count(*) OVER () AS total_rows FROM {{kpi_daily}} "
        f"WHERE {DAY_FILTER} ORDER BY kpi_date{_limited(limit)}",
        scope.parameters(limit),
    )


def by_channel(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Per channel over the range; total orders and revenue are the whole shop's (the channel's share)."""
    return marts.rows(
        f"SELECT *, {rates()}, count(*) OVER () AS total_rows FROM ("
        f"SELECT channel, {SUMS} FROM {{kpi_channels_daily}} WHERE {DAY_FILTER} GROUP BY channel) "
        f"ORDER BY channel{_limited(limit)}",
        scope.parameters(limit),
    )


def by_product(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Per product over the range, the most attributed revenue first; titles from the published catalog."""
    return marts.rows(
        f"""WITH grouped AS (
            SELECT product_id, {SUMS} FROM {{kpi_products_daily}} WHERE {DAY_FILTER} GROUP BY product_id
        ), ranked AS (
            SELECT *, count(*) OVER () AS total_rows FROM grouped
            ORDER BY attributed_revenue DESC NULLS LAST, notifications_sent DESC NULLS LAST, product_id
            {_limited(limit)}
        ), titles AS (
            SELECT product_id, any_value(product_title) AS product_title FROM {{variants}}
            WHERE shop = $shop AND product_id IN (SELECT product_id FROM ranked) GROUP BY product_id
        )
        SELECT ranked.product_id, titles.product_title, {COUNTS}, {rates()}, total_rows
        FROM ranked LEFT JOIN titles USING (product_id)
        ORDER BY attributed_revenue DESC NULLS LAST, notifications_sent DESC NULLS LAST, product_id""",
        scope.parameters(limit),
    )


def by_variant(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Per variant over the range, the most attributed revenue first."""
    return marts.rows(
        f"""WITH grouped AS (
            SELECT product_id, variant_id, {SUMS} FROM {{kpi_variants_daily}} WHERE {DAY_FILTER}
            GROUP BY product_id, variant_id
        ), ranked AS (
            SELECT *, count(*) OVER () AS total_rows FROM grouped
            ORDER BY attributed_revenue DESC NULLS LAST, notifications_sent DESC NULLS LAST, variant_id
            {_limited(limit)}
        )
        SELECT ranked.product_id, ranked.variant_id, catalog.product_title, catalog.variant_title,
            {COUNTS}, {rates()}, total_rows
        FROM ranked LEFT JOIN {{variants}} AS catalog
            ON catalog.shop = $shop AND catalog.variant_id = ranked.variant_id
        ORDER BY attributed_revenue DESC NULLS LAST, notifications_sent DESC NULLS LAST, variant_id""",
        scope.parameters(limit),
    )


def restock_events(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Each restock of the range (by its day) with what its alerts did, newest first."""
    columns = ", ".join(f"restocks.{key}" for key in RESTOCK_COUNTS)
    return marts.rows(
        f"""WITH ranked AS (
            SELECT *, count(*) OVER () AS total_rows FROM {{kpi_restock_events}}
            WHERE shop = $shop AND restock_date BETWEEN $start AND $end
            ORDER BY restocked_at DESC, restock_event_id{_limited(limit)}
        )
        SELECT restocks.restock_event_id, restocks.restocked_at, restocks.restock_date, restocks.product_id,
            restocks.variant_id, catalog.product_title, catalog.variant_title, {columns},
            {rates(RESTOCK_COUNTS)}, total_rows
        FROM ranked AS restocks LEFT JOIN {{variants}} AS catalog
            ON catalog.shop = $shop AND catalog.variant_id = restocks.variant_id
        ORDER BY restocks.restocked_at DESC, restocks.restock_event_id""",
        scope.parameters(limit),
    )


def lift(marts: Marts, shop: str) -> dict[str, Any] | None:
    """The holdout's lift estimate for the shop, when the pipeline publishes one and a holdout ran."""
    if not marts.is_published(LIFT_MART):
        return None
    found = marts.rows("SELECT * FROM {notification_lift} WHERE shop = $shop", {"shop": shop})
    return found[0] if found else None


def waiting_demand(marts: Marts, scope: Scope, limit: int | None = None) -> list[dict[str, Any]]:
    """Sold-out variants with subscribers waiting, in the mart's order (reorder first at the top), with the
    sums over all of them."""
    return marts.rows(
        "SELECT * EXCLUDE (as_of), count(*) OVER () AS total_rows, "
        "sum(waiting_subscribers) OVER () AS total_waiting, sum(waiting_value) OVER () AS total_value "
        f"FROM {{waiting_demand}} WHERE shop = $shop ORDER BY demand_rank{_limited(limit)}",
        {"shop": scope.shop} | ({} if limit is None else {"limit": limit}),
    )
