"""Is the variant still sellable at send time? A live read through the Shopify client, at most once per
variant per batch (a read also serves later batches for `stock_check_max_age_seconds`), several variants
per request.

The rule is detection's (contract 4, `backinstock.rules`): a variant that is tracked and stops selling at
zero (`DENY`) is sellable while the sum of `max(available, 0)` over the locations that count reaches the
threshold in force for it; by default the locations that count are the active ones that fulfil online orders,
unless its rules name others. Untracked and `CONTINUE` variants never sell out. A read keeps the levels; the
variant's rules (resolved per batch from the store) turn them into a quantity.

If Shopify cannot be asked (no credentials, an outage), the check is skipped and the job sent: the restock
was confirmed by detection, and an outage must not stop alerts. The report counts such jobs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from backinstock import rules
from backinstock.settings import Settings, ShopSettings
from backinstock.shopify.client import ShopifyClient, ShopifyError

VARIANTS_PER_REQUEST = 5  # 5 x ~154 points stays under Shopify's 1,000-point ceiling per query
LEVELS_PER_VARIANT = 50
CHECK_TIMEOUT_SECONDS = 5.0

VARIANT_FIELDS = f"""
    id
    inventoryPolicy
    inventoryItem {{
      tracked
      inventoryLevels(first: {LEVELS_PER_VARIANT}) {{
        nodes {{
          location {{ id isActive fulfillsOnlineOrders }}
          quantities(names: ["available"]) {{ name quantity }}
        }}
      }}
    }}
"""


def stock_query(count: int, *, with_shop: bool = False) -> str:
    """One document reading `count` variants by id (aliases v0..vN) and, if asked, the shop's time zone."""
    arguments = ", ".join(f"$v{index}: ID!" for index in range(count))
    aliases = "\n".join(
        f"  v{index}: productVariant(id: $v{index}) {{{VARIANT_FIELDS}  }}" for index in range(count)
    )
    shop = "  shop { ianaTimezone }\n" if with_shop else ""
    signature = f"({arguments})" if arguments else ""
    return f"query VariantStock{signature} {{\n{shop}{aliases}\n}}"


def levels_of(variant: Mapping[str, Any]) -> tuple[rules.Level, ...] | None:
    """The variant's active levels as the sellable rule reads them, or None when it cannot sell out
    (untracked, or CONTINUE)."""
    item = variant.get("inventoryItem") or {}
    if not rules.can_restock(item.get("tracked"), variant.get("inventoryPolicy")):
        return None
    found = []
    for level in (item.get("inventoryLevels") or {}).get("nodes") or []:
        location = level.get("location") or {}
        available = next(
            (q.get("quantity") for q in level.get("quantities") or [] if q.get("name") == "available"), None
        )
        found.append(
            rules.Level(
                location_id=location.get("id") or "",
                available=None if available is None else int(available),
                location_active=bool(location.get("isActive")),
                fulfills_online_orders=bool(location.get("fulfillsOnlineOrders")),
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class Stock:
    variant_id: str
    levels: tuple[rules.Level, ...] | None  # None: cannot sell out

    def quantity(self, in_force: rules.Rules) -> int | None:
        return None if self.levels is None else rules.sellable_quantity(self.levels, in_force)

    def sellable(self, in_force: rules.Rules) -> bool:
        return self.levels is None or rules.in_stock(self.levels, in_force)


class StockChecker:
    """Live checks for one worker: one Shopify client per shop, recent answers kept briefly."""

    def __init__(self, settings: Settings, *, monotonic=time.monotonic) -> None:
        self.settings = settings
        self.max_age = settings.dispatch.stock_check_max_age_seconds
        self.monotonic = monotonic
        self.clients: dict[str, ShopifyClient] = {}
        self.recent: dict[tuple[str, str], tuple[float, Stock]] = {}
        self.timezones: dict[str, str] = {}
        self.requests = 0

    def _client(self, shop: ShopSettings) -> ShopifyClient:
        if shop.domain not in self.clients:
            self.clients[shop.domain] = ShopifyClient(shop, timeout=CHECK_TIMEOUT_SECONDS, max_retries=1)
        return self.clients[shop.domain]

    def check(self, shop_domain: str, variant_ids: Iterable[str]) -> dict[str, Stock]:
        """Stock of each variant that could be read; a variant missing from the answer could not be."""
        shop = self.settings.shop(shop_domain)
        wanted = sorted(set(variant_ids))
        now = self.monotonic()
        found: dict[str, Stock] = {}
        for variant_id in wanted:
            cached = self.recent.get((shop_domain, variant_id))
            if cached is not None and now - cached[0] <= self.max_age:
                found[variant_id] = cached[1]
        missing = [variant_id for variant_id in wanted if variant_id not in found]
        if shop is None or not shop.access_token.get_secret_value() or not missing:
            return found
        for start in range(0, len(missing), VARIANTS_PER_REQUEST):
            chunk = missing[start : start + VARIANTS_PER_REQUEST]
            try:
                data = self._read(shop, chunk, with_shop=shop_domain not in self.timezones)
            except (ShopifyError, OSError):
                continue
            for index, variant_id in enumerate(chunk):
                node = data.get(f"v{index}")
                if node is None:
                    continue  # deleted from the shop: nothing to sell (and nothing to check)
                stock = Stock(variant_id, levels_of(node))
                self.recent[(shop_domain, variant_id)] = (now, stock)
                found[variant_id] = stock
        return found

    def _read(self, shop: ShopSettings, variant_ids: Sequence[str], *, with_shop: bool) -> dict[str, Any]:
        self.requests += 1
        variables = {f"v{index}": variant_id for index, variant_id in enumerate(variant_ids)}
        data = self._client(shop).execute(stock_query(len(variant_ids), with_shop=with_shop), variables)
        zone = (data.get("shop") or {}).get("ianaTimezone")
        if zone:
            self.timezones[shop.domain] = zone
        return data

    def timezone(self, shop_domain: str) -> str:
        """The shop's time zone for quiet hours: the setting, else Shopify's, else UTC."""
        shop = self.settings.shop(shop_domain)
        if shop is not None and shop.timezone:
            return shop.timezone
        if shop_domain not in self.timezones and shop is not None and shop.access_token.get_secret_value():
            try:
                self._read(shop, [], with_shop=True)
            except (ShopifyError, OSError):
                self.timezones[shop_domain] = "UTC"
        return self.timezones.get(shop_domain, "UTC")

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def rules_for(
    connection: sa.Connection, settings: Settings, jobs: Iterable[Any]
) -> dict[tuple[str, str], rules.Rules]:
    """The rules in force now for each job's variant (its product from the job's frozen message context)."""
    found: dict[tuple[str, str], rules.Rules] = {}
    for job in jobs:
        key = (job.shop, job.variant_id)
        if key not in found:
            found[key] = rules.effective_rules(
                connection,
                settings.detection,
                shop=job.shop,
                product_id=(job.context or {}).get("product_id"),
                variant_id=job.variant_id,
            )
    return found
