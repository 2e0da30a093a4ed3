"""The dbt project as assets: detection, frozen targets, attribution and KPI marts, built with its tests."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from backinstock.settings import AttributionSettings, Settings
from orchestration.common import WAREHOUSE_POOL
from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.dbt.translator import BackInStockDbtTranslator
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import naive_utc


def dbt_as_of(as_of: datetime) -> str:
    """The models' `as_of`: naive UTC, second precision."""
    return naive_utc(as_of).strftime("%Y-%m-%d %H:%M:%S")


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The rule values from the product's settings (constant between cycles, so dbt parses partially):
    the product-wide ones, and each shop's attribution and holdout rules (`shop_rules`)."""
    return {
        "threshold": settings.detection.threshold,
        "debounce_minutes": settings.detection.debounce_minutes,
        "cooldown_hours": settings.detection.cooldown_hours,
        "batch_multiplier": settings.detection.batch_multiplier,
        "batch_interval_minutes": settings.detection.batch_interval_minutes,
        "release": settings.detection.release,
        **attribution_vars(settings.attribution),
        "shop_rules": {
            shop.domain: {
                **attribution_vars(settings.attribution_of(shop)),
                "holdout_share": shop.holdout.share,
                "holdout_delay_minutes": shop.holdout.delay_minutes,
            }
            for shop in settings.shops
        },
    }


def attribution_vars(attribution: AttributionSettings) -> dict[str, Any]:
    return {
        "click_window_hours": attribution.click_window_hours,
        "open_window_hours": attribution.open_window_hours,
        "sms_window_hours": attribution.sms_window_hours,
        "attribution_scope": attribution.scope,
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
    # Unit tests check the models' logic, not the data: CI runs them (tests/dbt); the cycle does not.
    arguments = ["build", "--vars", json.dumps(dbt_vars(loaded)), "--exclude-resource-type", "unit_test"]
    target = (loaded.data_dir / "dbt_target").resolve()
    # dbt runs in a process started with this process's environment: the profile reads the warehouse path
    # from it, and the models read `as_of` (macros/rules.sql).
    environment = {
        "BACKINSTOCK_WAREHOUSE_PATH": str(loaded.warehouse),
        "BACKINSTOCK_AS_OF": dbt_as_of(clock.now()),
    }
    with environment_set(environment):
        invocation = dbt.cli(arguments, context=context, target_path=target)
    yield from invocation.stream()


@contextmanager
def environment_set(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block only, so nothing leaks into the rest of the process."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


assets = [dbt_models]
