"""The dbt project as assets: detection, frozen targets, attribution and KPI marts, built with its tests."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from backinstock.settings import AttributionSettings, Settings
from orchestration.asset_metadata import row_count as asset_row_count
from orchestration.common import WAREHOUSE_POOL
from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.dbt.translator import BackInStockDbtTranslator
from orchestration.resources import BackInStockSettings, CycleClock
from orchestration.warehouse import connect, naive_utc, row_count


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


def dbt_models_of(project: DbtProject) -> dg.AssetsDefinition:
    """The project's models and tests as one multi-asset (dagster-dbt runs dbt in the project it is given
    here, whatever the resource says: a test that breaks a model builds these over its own copy)."""

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
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
        # dbt runs in a process started with this process's environment: the profile reads the warehouse
        # path from it, and the models read `as_of` (macros/rules.sql). Each path builds its own models: a
        # test joins a path's build only when every model it reads is built by it or before it
        # ("buildable"), so a test over orders and shops never runs on the alerts path (nor fails it). No
        # colour codes: the UI shows dbt's output and errors as plain text.
        environment = {
            "BACKINSTOCK_WAREHOUSE_PATH": str(loaded.warehouse),
            "BACKINSTOCK_AS_OF": dbt_as_of(clock.now()),
            "BACKINSTOCK_DUCKDB_MEMORY_LIMIT": loaded.duckdb_memory_limit,
            "DBT_INDIRECT_SELECTION": "buildable",
            "DBT_USE_COLORS": "false",
            "DBT_USE_COLORS_FILE": "false",
        }
        with environment_set(environment):
            invocation = dbt.cli(arguments, context=context, target_path=target)
        # Row counts are read once dbt has finished (DuckDB: while its process writes, no other can open
        # the file), so the events wait for the end; the models that did build are recorded even when one
        # failed.
        events: list[Any] = []
        try:
            events.extend(invocation.stream())
        finally:
            yield from with_row_counts(events, loaded.warehouse)

    return dbt_models


dbt_models = dbt_models_of(dbt_project())


def with_row_counts(events: list[Any], warehouse_path: Path) -> Iterator[Any]:
    """The events, each table model's output with `dagster/row_count` (views are left uncounted: counting
    one would run its query)."""
    outputs = [event for event in events if isinstance(event, dg.Output) and RELATION in event.metadata]
    counts: dict[str, int] = {}
    if outputs and warehouse_path.exists():
        with connect(warehouse_path, read_only=True) as warehouse:
            tables = {name for (name,) in warehouse.execute(TABLES).fetchall()}
            for event in outputs:
                relation = _relation(event)
                if relation in tables:
                    counts[relation] = row_count(warehouse, relation)
    for event in events:
        relation = _relation(event) if event in outputs else None
        if relation in counts:
            yield event.with_metadata({**event.metadata, **asset_row_count(counts[relation])})
        else:
            yield event


RELATION = "dagster/table_name"
TABLES = "SELECT schema_name || '.' || table_name FROM duckdb_tables()"


def _relation(event: dg.Output) -> str:
    """`schema.table` of a model's relation (`database.schema.table` in dagster-dbt's metadata)."""
    return ".".join(str(event.metadata[RELATION].value).split(".")[-2:])


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
