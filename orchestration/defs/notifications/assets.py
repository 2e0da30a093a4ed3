"""From the frozen targets mart to messages: enqueue one job per target, then dispatch due jobs.

Enqueueing is idempotent (one job per subscription, enforced by the store), so re-running a cycle, or a
cycle after a crash, never creates a second job. Dispatch runs the dispatcher (`dispatch.worker.run`) until
nothing is due, bounded in time; it records outcomes only from the providers' answers.
"""

from __future__ import annotations

import dagster as dg

from backinstock.store.jobs import enqueue_targets
from dispatch.worker import run as run_dispatcher
from orchestration.common import WAREHOUSE_POOL, store_engine
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import connect, fetch_rows

GROUP = "notifications"

NEW_TARGETS = """
SELECT t.*
FROM notification_targets AS t
WHERE NOT EXISTS (SELECT 1 FROM raw_app.notification_jobs AS j WHERE j.subscription_id = t.subscription_id)
ORDER BY t.restocked_at, t.target_rank
"""


@dg.asset(
    key=["operational", "notification_jobs"],
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    deps=[dg.AssetKey("notification_targets")],
)
def notification_jobs(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Targets without a job yet become `pending` jobs in the operational store."""
    loaded = settings.load()
    with connect(loaded.warehouse, read_only=True) as warehouse:
        targets = fetch_rows(warehouse, NEW_TARGETS)
    with store_engine(loaded.operational_store_url).begin() as store:
        inserted = enqueue_targets(store, targets, clock.now())
    return dg.MaterializeResult(metadata={"targets_read": len(targets), "jobs_enqueued": inserted})


@dg.asset(key=["operational", "notification_deliveries"], group_name=GROUP, deps=[notification_jobs])
def notification_deliveries(settings: BackInStockSettings) -> dg.MaterializeResult:
    """Send every due job through its lane until none is due (at most `dispatch.run_seconds`); each try is
    an attempt row. The dispatcher reads the settings' clock as it goes (simulated time in the demo)."""
    loaded = settings.load()
    report = run_dispatcher(store_engine(loaded.operational_store_url), loaded, until_idle=True)
    metadata = report.as_metadata()
    lanes = metadata.pop("lanes")
    metadata["lane_states"] = {name: lane["state"] for name, lane in lanes.items()}
    return dg.MaterializeResult(metadata=metadata)


assets = [notification_jobs, notification_deliveries]
