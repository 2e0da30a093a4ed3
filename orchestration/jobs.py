"""The product's paths as Dagster jobs: alerts, dispatch, analytics, and the data quality checks.

- `alerts`: inventory ingest (the reconciliation poll) and the operational copies (the webhook inbox among
  them) -> detection -> frozen targets -> enqueue. Nothing about orders or KPIs: a failing KPI model can
  never hold an alert back.
- `dispatch`: only the dispatcher (`dispatch.worker.run`) for a bounded time, outside the warehouse pool, so
  it sends while the warehouse is busy and retries queued jobs while Shopify is down.
- `analytics`: orders ingest and its Great Expectations check (blocking: a bad batch stops the KPI marts),
  fresh operational copies (jobs, attempts, events), attribution, KPI marts and the published Parquet marts.
- `data_quality`: the Great Expectations checks of inventory and variant batches (GX's import stays off the
  alerts path).

Every job runs in one process (the in-process executor): the warehouse steps are serialised by the
`warehouse` pool anyway, and a step per process re-imports the code location each time. The warehouse
paths are batch work (`PRIORITY_TAG: BATCH`): their runs yield the CPU to the storefront, the console and
the dispatcher (orchestration/priority.py).
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt.assets import dbt_models
from orchestration.defs.notifications.assets import notification_deliveries, notification_jobs
from orchestration.defs.operational.assets import catalog_variants, operational_copies
from orchestration.defs.privacy.assets import warehouse_redactions
from orchestration.defs.shopify.assets import orders
from orchestration.defs.shopify.checks import checks as gx_checks
from orchestration.defs.shopify.checks import inventory_levels_check, orders_check, variants_check
from orchestration.priority import BATCH, PRIORITY_TAG

# The GX checks: importing Great Expectations alone costs seconds, too slow for the alerts path. The orders
# check runs in the analytics job, where a failing orders batch blocks the KPI marts; the others on their own.
GX_CHECKS = dg.AssetSelection.checks(*gx_checks)
ORDERS_CHECK = dg.AssetSelection.checks(orders_check)
QUALITY_CHECKS = dg.AssetSelection.checks(inventory_levels_check, variants_check)
DISPATCH = dg.AssetSelection.assets(notification_deliveries)
ORDERS_INGEST = dg.AssetSelection.assets(orders)
# On both warehouse paths: the whole consistent copy of the operational store, and the privacy ledger
# applied to the warehouse before any dbt model runs (orchestration/defs/privacy).
SHARED = dg.AssetSelection.assets(operational_copies, warehouse_redactions)

# Everything enqueueing needs (and the catalog copy the storefront checks signups against). The privacy
# step declares every ingest as its input, orders too; the alerts path does not wait for orders.
ALERTS = (
    dg.AssetSelection.assets(notification_jobs, catalog_variants).upstream() - DISPATCH - ORDERS_INGEST
) | SHARED

# dbt's data tests of the detection models run on the analytics path, beside the KPI marts: on the alerts
# path they cost a fifth of its dbt build and, failing, would hold back a send the store's own constraints
# (one job per subscription) already guard. A failing one shows red there, raises the run-failure alert and
# stops the marts built on what it tests.
DETECTION_TESTS = ALERTS & dg.AssetSelection.checks_for_assets(dbt_models)

# Everything else (orders, attribution, KPI marts, the published marts, the store's retention).
ANALYTICS = (dg.AssetSelection.all() - ALERTS - DISPATCH) | SHARED | DETECTION_TESTS

# Tags every run carries, so the runs page says which path it is, what started it and as of when.
PATH_TAG = "backinstock/path"
TRIGGER_TAG = "backinstock/trigger"
AS_OF_TAG = "backinstock/as_of"

# Alerts first: of the steps waiting for the warehouse pool's one slot, an alerts run's get it before an
# analytics or data quality run's (Dagster hands a freed slot to the waiting step of the highest run
# priority), and the run queue starts alerts runs first. A step holding the slot is never interrupted.
DAGSTER_PRIORITY_TAG = "dagster/priority"
ALERTS_PRIORITY = 10

alerts_job = dg.define_asset_job(
    "alerts",
    selection=ALERTS - GX_CHECKS - DETECTION_TESTS,
    executor_def=dg.in_process_executor,
    tags={PATH_TAG: "alerts", PRIORITY_TAG: BATCH, DAGSTER_PRIORITY_TAG: str(ALERTS_PRIORITY)},
    description="Poll inventory, copy the webhook inbox, detect restocks, freeze targets, enqueue jobs.",
)

dispatch_job = dg.define_asset_job(
    "dispatch",
    selection=DISPATCH,
    executor_def=dg.in_process_executor,
    tags={PATH_TAG: "dispatch"},
    description="Run the dispatcher for a bounded time: send due jobs through their lanes.",
)

analytics_job = dg.define_asset_job(
    "analytics",
    selection=(ANALYTICS - GX_CHECKS) | ORDERS_CHECK,
    executor_def=dg.in_process_executor,
    tags={PATH_TAG: "analytics", PRIORITY_TAG: BATCH},
    description="Ingest and validate orders, copy jobs and attempts, build attribution and KPI marts.",
)

# Only the checks, no materialization: GX is imported once for all of them.
quality_job = dg.define_asset_job(
    "data_quality",
    selection=QUALITY_CHECKS,
    executor_def=dg.in_process_executor,
    tags={PATH_TAG: "data_quality", PRIORITY_TAG: BATCH},
    description="Validate the ingested Shopify batches with Great Expectations.",
)

JOBS = [alerts_job, dispatch_job, analytics_job, quality_job]


def run_config(
    as_of: str = "", config_file: str = "", dispatch: dict | None = None, wait_for_as_of: bool = False
) -> dict:
    """Run config for one run of any path: the instant it decides as of (empty: the settings' clock, else
    the run's creation) and whether it waits for that instant (a run launched ahead of it), optionally the
    settings file, and for the dispatch job how long to send."""
    resources: dict = {}
    if as_of:
        clock: dict = {"as_of": as_of}
        if wait_for_as_of:
            clock["wait_for_as_of"] = True
        resources["clock"] = {"config": clock}
    if config_file:
        resources["settings"] = {"config": {"config_file": config_file}}
    config: dict = {"resources": resources}
    if dispatch:
        config["ops"] = {"operational__notification_deliveries": {"config": dispatch}}
    return config


def run_tags(trigger: str, as_of: str) -> dict[str, str]:
    return {TRIGGER_TAG: trigger, AS_OF_TAG: as_of}
