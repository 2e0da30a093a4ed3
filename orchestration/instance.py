"""The Dagster instance as the product needs it: the warehouse pool limited to one, wherever it runs.

DuckDB allows one writing process (a second cannot even open the file to read), so the `warehouse` pool's
limit of 1 is part of the product, not of one instance's configuration: every run sets it on the instance
it runs on before its first step claims a slot (`ensure_warehouse_pool`, called by the settings resource),
and the instance folders the product writes (`prepare_dagster_home`) say so too.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.common import WAREHOUSE_POOL, WAREHOUSE_POOL_LIMIT

# Besides the pool: queued runs are started within a second (Dagster's default waits up to 5 s), and the
# daemon evaluates sensors side by side, so the webhook inbox sensor never waits behind the others' ticks.
DAGSTER_YAML = f"""\
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: {WAREHOUSE_POOL_LIMIT}
run_queue:
  dequeue_interval_seconds: 1
sensors:
  use_threads: true
  num_workers: 4
"""


def prepare_dagster_home(folder: Path) -> Path:
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(DAGSTER_YAML)
    return folder


def ensure_warehouse_pool(instance: dg.DagsterInstance) -> None:
    """Limit the warehouse pool to one slot on this instance, unless it already is."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    if storage.get_concurrency_info(WAREHOUSE_POOL).slot_count != WAREHOUSE_POOL_LIMIT:
        storage.set_concurrency_slots(WAREHOUSE_POOL, WAREHOUSE_POOL_LIMIT)
