"""How fresh the business needs its key assets, shown on their pages and in the asset graph: the inventory
ingest and the restocks and targets decided from it follow the 5-minute reconciliation poll (late past
10 minutes, failing past 30, like the stale-inventory alert's default), the KPI marts follow the 15-minute
analytics schedule (late past 30 minutes, failing past an hour)."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from backinstock.kpi_marts import KPI_MARTS

ALERTS_PATH = dg.FreshnessPolicy.time_window(timedelta(minutes=30), warn_window=timedelta(minutes=10))
KPI_MART_POLICY = dg.FreshnessPolicy.time_window(timedelta(hours=1), warn_window=timedelta(minutes=30))

POLICIES: dict[dg.AssetKey, dg.FreshnessPolicy] = {
    dg.AssetKey(["raw_shopify", "inventory_levels"]): ALERTS_PATH,
    dg.AssetKey("restock_events"): ALERTS_PATH,
    dg.AssetKey("notification_targets"): ALERTS_PATH,
    **{dg.AssetKey(name): KPI_MART_POLICY for name in KPI_MARTS},
}


def with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its freshness policy, if it has one here."""
    policy = POLICIES.get(spec.key)
    return spec if policy is None else spec.replace_attributes(freshness_policy=policy)
