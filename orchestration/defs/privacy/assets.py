"""Privacy in the cycle: retention in the operational store, and the redaction ledger in the warehouse.

`privacy/store_retention` runs the store's retention (`backinstock.privacy.apply_retention`: shops erased
when due, contacts of long-ended alerts pseudonymised, old events and webhooks deleted).
`privacy/warehouse_redactions` runs once the raw layer has landed (Shopify ingest, the store's copy) and
before every dbt model (the dbt translator makes each model depend on it): dbt then builds from redacted
data only, incremental models were redacted in place, so the KPIs come out the same and the published
marts never hold a redacted person (`redaction.apply_ledger`).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from backinstock import privacy
from orchestration.asset_metadata import ANALYTICS_ENGINEERING, OPERATIONS, PRIVACY
from orchestration.common import WAREHOUSE_POOL, store_engine
from orchestration.defs.operational.assets import operational_copies
from orchestration.defs.privacy.redaction import apply_ledger, strip_tracking_details
from orchestration.defs.shopify.assets import assets as shopify_assets
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import connect, naive_utc, transaction

GROUP = PRIVACY
WAREHOUSE_REDACTIONS = dg.AssetKey([GROUP, "warehouse_redactions"])


# In the warehouse pool although it only touches the store: it is quick, and the cycle's steps then stay
# one at a time, as the orchestration tests expect of everything but the dispatcher.
@dg.asset(
    key=[GROUP, "store_retention"],
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"python", "sqlite"},
    owners=[OPERATIONS],
)
def store_retention(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Personal data the store no longer needs, erased or pseudonymised as of the cycle's instant."""
    loaded = settings.load()
    with store_engine(loaded.operational_store_url).begin() as store:
        summary = privacy.apply_retention(store, loaded, clock.now())
    return dg.MaterializeResult(metadata=summary)


@dg.asset(
    key=WAREHOUSE_REDACTIONS,
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"python", "duckdb"},
    owners=[ANALYTICS_ENGINEERING],
    deps=[*operational_copies.keys, *(key for asset in shopify_assets for key in asset.keys)],
)
def warehouse_redactions(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Every redaction and erased shop of the ledger applied to the warehouse's tables, and old tracking
    events stripped of device details, in one transaction."""
    loaded = settings.load()
    with store_engine(loaded.operational_store_url).connect() as store:
        ledger = privacy.ledger(store)
    before = naive_utc(clock.now() - timedelta(days=loaded.privacy.events_retention_days))
    with connect(loaded.warehouse) as warehouse, transaction(warehouse):
        summary = apply_ledger(warehouse, ledger, privacy.salt(loaded))
        summary["tracking_events_stripped"] = strip_tracking_details(warehouse, before)
    return dg.MaterializeResult(metadata={**summary, "shops_with_redactions": len(ledger["redactions"])})


assets = [store_retention, warehouse_redactions]
