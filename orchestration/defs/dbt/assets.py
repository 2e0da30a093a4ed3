"""The dbt project as assets: detection, frozen targets, attribution and KPI marts, built with its tests."""

import json
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from backinstock.settings import Settings
from orchestration.common import WAREHOUSE_POOL
from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.dbt.translator import BackInStockDbtTranslator
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import naive_utc


def dbt_vars(settings: Settings, as_of: datetime) -> dict[str, Any]:
    """The rule values and the instant the models decide as of, from the product's settings."""
    return {
        "as_of": naive_utc(as_of).strftime("%Y-%m-%d %H:%M:%S"),
        "threshold": settings.detection.threshold,
        "debounce_minutes": settings.detection.debounce_minutes,
        "cooldown_hours": settings.detection.cooldown_hours,
        "click_window_hours": settings.attribution.click_window_hours,
        "open_window_hours": settings.attribution.open_window_hours,
    }


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=BackInStockDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, settings: BackInStockSettings, clock: CycleClock
) -> Iterator[Any]:
    loaded = settings.load()
    # The profile reads the warehouse path from the environment of the dbt process Dagster starts.
    os.environ["BACKINSTOCK_WAREHOUSE_PATH"] = str(loaded.warehouse)
    arguments = ["build", "--vars", json.dumps(dbt_vars(loaded, clock.now()))]
    target = (loaded.data_dir / "dbt_target").resolve()
    yield from dbt.cli(arguments, context=context, target_path=target).stream()


assets = [dbt_models]
