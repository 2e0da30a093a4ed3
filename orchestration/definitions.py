"""The Dagster code location: `dagster dev -m orchestration.definitions`.

One job runs the whole cycle (ingest → copy → dbt build → enqueue → dispatch → publish); a schedule runs
it every 15 minutes with the tick as `as_of`. A second job, `data_quality`, runs the Great Expectations
checks of the latest ingested Shopify batches hourly, off the cycle's path. Every asset and check that opens
the warehouse is in the `warehouse` pool, whose limit is 1 in the instance configuration `backinstock
serve` writes.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt.assets import assets as dbt_assets
from orchestration.defs.dbt.project import dbt_cli, dbt_project
from orchestration.defs.marts.assets import assets as mart_assets
from orchestration.defs.notifications.assets import assets as notification_assets
from orchestration.defs.operational.assets import assets as operational_assets
from orchestration.defs.privacy.assets import assets as privacy_assets
from orchestration.defs.shopify.assets import assets as shopify_assets
from orchestration.defs.shopify.checks import checks as shopify_checks
from orchestration.jobs import cycle_job, cycle_schedule, quality_job, quality_schedule
from orchestration.resources import BackInStockSettings, CycleClock

settings_resource = BackInStockSettings()

defs = dg.Definitions(
    assets=[
        *shopify_assets,
        *operational_assets,
        *dbt_assets,
        *notification_assets,
        *privacy_assets,
        *mart_assets,
    ],
    asset_checks=[*shopify_checks],
    jobs=[cycle_job, quality_job],
    schedules=[cycle_schedule, quality_schedule],
    resources={
        "settings": settings_resource,
        "clock": CycleClock(settings=settings_resource),
        "dbt": dbt_cli(dbt_project()),
    },
)
