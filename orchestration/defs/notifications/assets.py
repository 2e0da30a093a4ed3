"""From the released targets to messages: enqueue one job per released target, then dispatch due jobs.

Enqueueing is idempotent (one job per subscription, enforced by the store), so re-running the alerts path,
or running it after a crash, never creates a second job; the alerts run then sends what it queued itself,
briefly (`first_sends`), so no restock waits for a dispatch run to start. Dispatch runs the dispatcher
(`dispatch.worker.run`) for a bounded time, or until nothing is due; it records outcomes only from the
providers' answers. It opens only the operational store, never the warehouse: it is outside the warehouse
pool and sends while dbt runs.
"""

from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from backinstock.clock import parse_instant, utc
from backinstock.settings import Settings
from backinstock.store import tables as store_tables
from backinstock.store.jobs import enqueue_targets, release_deferred
from dispatch.worker import run as run_dispatcher
from orchestration.asset_metadata import NOTIFICATIONS, OPERATIONS, store_table_schema
from orchestration.common import WAREHOUSE_POOL, store_engine
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import connect, fetch_rows, naive_utc

KINDS = {"python", "sqlite"}

# Released targets without a job yet (the copy of the store's jobs is this cycle's; the store's unique
# subscription_id makes a second enqueue of the same target a no-op anyway), with their holdout decision.
NEW_TARGETS = """
SELECT t.*, r.released_at, coalesce(h.is_held_out, false) AS is_held_out, h.holdout_delay_minutes
FROM notification_targets AS t
INNER JOIN target_releases AS r ON r.target_id = t.target_id
LEFT JOIN notification_holdouts AS h ON h.target_id = t.target_id
WHERE r.released_at <= CAST(? AS TIMESTAMP)
    AND NOT EXISTS (SELECT 1 FROM raw_app.notification_jobs AS j WHERE j.subscription_id = t.subscription_id)
ORDER BY r.released_at, t.restocked_at, t.target_rank
"""

# Variants with jobs dispatch deferred (sold out again at send time), with their newest restock: jobs deferred
# before it was decided go back to the queue (backinstock.store.jobs.release_deferred).
RESTOCKED_WITH_DEFERRED_JOBS = """
SELECT e.shop, e.variant_id, max(e.decided_at) AS decided_at
FROM restock_events AS e
WHERE e.decided_at <= CAST(? AS TIMESTAMP)
    AND EXISTS (
        SELECT 1 FROM raw_app.notification_jobs AS j
        WHERE j.shop = e.shop AND j.variant_id = e.variant_id AND j.status = 'deferred'
    )
GROUP BY e.shop, e.variant_id
"""


@dg.asset(
    key=["operational", "notification_jobs"],
    group_name=NOTIFICATIONS,
    pool=WAREHOUSE_POOL,
    kinds=KINDS,
    owners=[OPERATIONS],
    metadata=store_table_schema(store_tables.notification_jobs),
    deps=[
        dg.AssetKey("notification_targets"),
        dg.AssetKey("target_releases"),
        dg.AssetKey("notification_holdouts"),
        dg.AssetKey("restock_events"),
        dg.AssetKey(["raw_app", "notification_jobs"]),
    ],
)
def notification_jobs(settings: BackInStockSettings, clock: CycleClock) -> dg.MaterializeResult:
    """Released targets without a job yet become `pending` jobs in the operational store (held-out ones due
    after the holdout's delay); a variant's deferred jobs go back to the queue at its next restock. Then the
    run sends them itself (`first_sends`): a restock's first messages leave with the run that found it."""
    loaded = settings.load()
    as_of = naive_utc(clock.now())
    with connect(loaded.warehouse, read_only=True) as warehouse:
        targets = fetch_rows(warehouse, NEW_TARGETS, [as_of])
        restocked = fetch_rows(warehouse, RESTOCKED_WITH_DEFERRED_JOBS, [as_of])
    engine = store_engine(loaded.operational_store_url)
    with engine.begin() as store:
        inserted = enqueue_targets(store, targets, clock.now())
        requeued = sum(
            release_deferred(
                store,
                shop=row["shop"],
                variant_id=row["variant_id"],
                decided_at=utc(row["decided_at"]),
                now=clock.now(),
            )
            for row in restocked
        )
    metadata = {"targets_read": len(targets), "jobs_enqueued": inserted, "deferred_requeued": requeued}
    return dg.MaterializeResult(metadata={**metadata, **first_sends(engine, loaded, inserted + requeued)})


def first_sends(engine: sa.Engine, settings: Settings, queued: int) -> dict[str, int | bool]:
    """When the run queued jobs, the dispatcher (the same code as the dispatch job's) sends what is due
    until nothing more can go now, for at most `dispatch.after_enqueue_seconds`: no waiting for a dispatch
    run to start. Other dispatchers may run at the same time (the store decides who owns each job); what
    is left (later batches, retries, a paused lane) is the dispatch job's."""
    bound = settings.dispatch.after_enqueue_seconds
    if not queued or not bound:
        return {}
    report = run_dispatcher(engine, settings, for_seconds=bound, until_idle=True)
    return {"sent": report.sent, "sends_drained": report.drained}


class DispatchRun(dg.Config):
    """How long one dispatch run sends: `for_seconds` of real time (0: `dispatch.run_seconds`), or up to
    the real instant `until` (the schedule's: just before its next tick), or until nothing can be sent now
    when `until_idle` (still bounded by the others)."""

    for_seconds: float = 0.0
    until: str = ""
    until_idle: bool = False

    def seconds(self, now: datetime) -> float | None:
        if self.until:
            return max(0.0, (parse_instant(self.until) - now).total_seconds())
        return self.for_seconds or None


@dg.asset(
    key=["operational", "notification_deliveries"],
    group_name=NOTIFICATIONS,
    deps=[notification_jobs],
    kinds=KINDS,
    owners=[OPERATIONS],
    metadata=store_table_schema(store_tables.notification_attempts),
)
def notification_deliveries(config: DispatchRun, settings: BackInStockSettings) -> dg.MaterializeResult:
    """Send due jobs through their lanes for a bounded time; each try is an attempt row. The dispatcher
    reads the settings' clock as it goes (simulated time in the demo)."""
    loaded = settings.load()
    report = run_dispatcher(
        store_engine(loaded.operational_store_url),
        loaded,
        for_seconds=config.seconds(datetime.now(UTC)),
        until_idle=config.until_idle,
    )
    metadata = report.as_metadata()
    lanes = metadata.pop("lanes")
    metadata["lane_states"] = {name: lane["state"] for name, lane in lanes.items()}
    return dg.MaterializeResult(metadata=metadata)


assets = [notification_jobs, notification_deliveries]
