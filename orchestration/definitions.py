"""The Dagster code location: `dagster dev -m orchestration.definitions`.

Three paths (orchestration/jobs.py): `alerts` (started by the webhook inbox sensor, the reconciliation
check on Shopify's changed levels every few seconds, and the 5-minute reconciliation poll), `dispatch`
(every minute, and at once after an alerts run enqueued jobs; outside the warehouse pool) and `analytics`
(on its own schedule and after sends), plus `data_quality` (Great Expectations). Every asset and check that
opens the warehouse is in the `warehouse` pool, limited to one slot by every run on the instance it runs
on (orchestration/instance.py). Every job runs in process.
"""

from __future__ import annotations

import dagster as dg

from orchestration.alert_sensors import SENSORS as ALERT_SENSORS
from orchestration.defs.dbt.assets import assets as dbt_assets
from orchestration.defs.dbt.project import dbt_cli, dbt_project
from orchestration.defs.marts.assets import assets as mart_assets
from orchestration.defs.notifications.assets import assets as notification_assets
from orchestration.defs.notifications.checks import checks as delivery_checks
from orchestration.defs.operational.assets import assets as operational_assets
from orchestration.defs.privacy.assets import assets as privacy_assets
from orchestration.defs.shopify.assets import assets as shopify_assets
from orchestration.defs.shopify.checks import checks as shopify_checks
from orchestration.inventory_changes import SENSORS as INVENTORY_SENSORS
from orchestration.jobs import JOBS
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.schedules import SCHEDULES
from orchestration.sensors import SENSORS

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
    asset_checks=[*shopify_checks, *delivery_checks],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=[*SENSORS, *INVENTORY_SENSORS, *ALERT_SENSORS],
    executor=dg.in_process_executor,
    resources={
        "settings": settings_resource,
        "clock": CycleClock(settings=settings_resource),
        "dbt": dbt_cli(dbt_project()),
    },
)
