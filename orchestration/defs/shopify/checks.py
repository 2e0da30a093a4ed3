"""Data-quality checks of ingested Shopify batches, with Great Expectations.

Each check validates the most recently ingested batch of one `raw_shopify` table (per shop, the rows with
the newest `_ingested_at`) against a small suite of expectations that matter downstream: gid-shaped ids
(staging and the storefront parse them), `updated_at` present (it orders every observation and moves the
watermark), integer `available` (null allowed, as Shopify does; negative allowed: oversold), non-negative
money in a 3-letter currency, and no two versions of a row with the same `updated_at` in one batch (staging
keeps one version per `updated_at`, newest `_ingested_at` first: two different values stamped alike make
it pick at random).

A batch is known only by its `_ingested_at`, and two runs at the same instant (the demo re-runs its last
cycle; a clock file that did not move) land the same re-read rows twice under one stamp. Identical copies
are harmless (staging keeps one), so they are collapsed before validating, and counted in the metadata.

The checks are not blocking and are not part of the cycle: importing Great Expectations costs seconds, so
the `data_quality` job runs them on their own schedule (orchestration/jobs.py), and GX is imported inside
the check, never when the code location loads. They only read the warehouse, but DuckDB will not open a
file another process is writing, so they run in the `warehouse` pool like every other warehouse user.

Pure pieces (the suites as data, the latest-batch query, turning a GX result into pass/fail and metadata)
are plain functions so they can be tested without Dagster or GX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from backinstock.settings import Settings
from orchestration.common import WAREHOUSE_POOL
from orchestration.resources import BackInStockSettings
from orchestration.warehouse import connect

CHECK_NAME = "gx_latest_batch"
SAMPLE_SIZE = 5
# `available` is an INTEGER column: numpy ints without nulls, pandas' nullable ints with them.
INTEGER_TYPES = ["int8", "int16", "int32", "int64", "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype"]
CURRENCY_CODE = r"^[A-Z]{3}$"
EMAIL = r"^[^@\s]+@[^@\s]+$"


def gid_pattern(kind: str, suffix: str = "") -> str:
    """A regex for a Shopify gid of `kind` (`gid://shopify/Order/123`), with an optional query suffix."""
    return rf"^gid://shopify/{kind}/\d+{suffix}$"


@dataclass(frozen=True)
class Expect:
    """One expectation as data: a `gx.expectations` class name and its arguments."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def _not_null(*columns: str) -> list[Expect]:
    return [Expect("ExpectColumnValuesToNotBeNull", {"column": column}) for column in columns]


def _matches(column: str, regex: str) -> Expect:
    """Nulls are left to the not-null expectations (GX's map expectations skip them)."""
    return Expect("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex})


def _unique(*columns: str) -> Expect:
    return Expect("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)})


SUITES: dict[str, list[Expect]] = {
    "inventory_levels": [
        *_not_null("shop", "inventory_level_id", "inventory_item_id", "location_id", "updated_at"),
        # Shopify's level gid carries its item: gid://shopify/InventoryLevel/1?inventory_item_id=2
        _matches("inventory_level_id", gid_pattern("InventoryLevel", r"(?:\?inventory_item_id=\d+)?")),
        _matches("inventory_item_id", gid_pattern("InventoryItem")),
        _matches("location_id", gid_pattern("Location")),
        Expect("ExpectColumnValuesToBeInTypeList", {"column": "available", "type_list": INTEGER_TYPES}),
        _unique("shop", "inventory_level_id", "updated_at"),
    ],
    "orders": [
        *_not_null("shop", "order_id", "created_at", "updated_at", "currency_code", "total_price"),
        _matches("order_id", gid_pattern("Order")),
        _matches("currency_code", CURRENCY_CODE),
        Expect("ExpectColumnValuesToBeBetween", {"column": "total_price", "min_value": 0}),
        # Attribution joins orders to touches on the email: when present it must look like one.
        _matches("email", EMAIL),
        Expect(
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "updated_at", "column_B": "created_at", "or_equal": True},
        ),
        _unique("shop", "order_id", "updated_at"),
    ],
    "variants": [
        *_not_null("shop", "variant_id", "product_id", "inventory_policy", "tracked", "updated_at"),
        _matches("variant_id", gid_pattern("ProductVariant")),
        _matches("product_id", gid_pattern("Product")),
        _matches("inventory_item_id", gid_pattern("InventoryItem")),
        # Only DENY variants can go out of stock (the restock rule).
        Expect(
            "ExpectColumnValuesToBeInSet", {"column": "inventory_policy", "value_set": ["DENY", "CONTINUE"]}
        ),
        Expect("ExpectColumnValuesToBeBetween", {"column": "price", "min_value": 0}),
        _unique("shop", "variant_id", "updated_at"),
    ],
}


def latest_batch(warehouse: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame | None:
    """Per shop, the rows of raw_shopify.`table` ingested last; None when the table does not exist yet."""
    exists = warehouse.execute(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = 'raw_shopify' AND table_name = ?",
        [table],
    ).fetchone()
    if not exists or not exists[0]:
        return None
    return warehouse.execute(
        f"""
        SELECT * FROM raw_shopify.{table}
        QUALIFY _ingested_at = max(_ingested_at) OVER (PARTITION BY shop)
        """
    ).df()


def collapse_copies(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The batch without identical copies of a row, and how many copies were dropped."""
    distinct = frame.drop_duplicates(ignore_index=True)
    return distinct, len(frame) - len(distinct)


def build_suite(table: str) -> Any:
    """The table's suite as a `gx.ExpectationSuite` (imports GX)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"raw_shopify.{table}.latest_batch")
    for expect in SUITES[table]:
        suite.add_expectation(getattr(gx.expectations, expect.type)(**expect.kwargs))
    return suite


def validate(frame: pd.DataFrame, table: str) -> dict[str, Any]:
    """Validate `frame` with the table's suite in an ephemeral GX context; the result as a JSON dict."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in run logs
    source = context.data_sources.add_pandas("raw_shopify")
    batch_definition = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("latest")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(build_suite(table)).to_json_dict()


def expectation_label(config: Mapping[str, Any]) -> str:
    """`expect_column_values_to_match_regex(order_id)`: an expectation named by its type and columns."""
    kwargs = config.get("kwargs") or {}
    columns = kwargs.get("column_list") or [
        kwargs[name] for name in ("column", "column_A", "column_B") if kwargs.get(name) is not None
    ]
    return f"{config.get('type', '?')}({', '.join(map(str, columns))})"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    metadata: dict[str, Any]


def summarize(result: Mapping[str, Any]) -> Outcome:
    """Pass/fail and metadata from a GX suite validation result (its JSON dict form).

    Metadata: how many expectations ran and failed, the failed ones' labels, and per failure its unexpected
    count, a few unexpected values, or the error GX hit evaluating it (a missing column, say).
    """
    results: Sequence[Mapping[str, Any]] = result.get("results") or []
    failed = []
    for item in results:
        if item.get("success"):
            continue
        details = item.get("result") or {}
        failure: dict[str, Any] = {"expectation": expectation_label(item.get("expectation_config") or {})}
        if "unexpected_count" in details:
            failure["unexpected_count"] = details["unexpected_count"]
            samples = details.get("partial_unexpected_list") or []
            failure["unexpected_sample"] = [str(value) for value in samples[:SAMPLE_SIZE]]
        if "observed_value" in details:
            failure["observed_value"] = str(details["observed_value"])
        error = _exception_message(item.get("exception_info") or {})
        if error:
            failure["error"] = error
        failed.append(failure)
    failed.sort(key=lambda failure: failure["expectation"])
    passed = bool(result.get("success")) and not failed
    return Outcome(
        passed=passed,
        metadata={
            "expectations_run": len(results),
            "expectations_failed": len(failed),
            "failed_expectations": [failure["expectation"] for failure in failed],
            "failures": failed,
        },
    )


def _exception_message(info: Mapping[str, Any]) -> str | None:
    """GX reports an error either flat or keyed by the metric that raised it."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def check_latest_batch(settings: Settings, table: str) -> dg.AssetCheckResult:
    """Validate the latest batch of raw_shopify.`table`; an empty or missing table passes with a note."""
    path = settings.warehouse
    frame = None
    if path.exists():
        with connect(path, read_only=True) as warehouse:
            frame = latest_batch(warehouse, table)
    if frame is None or frame.empty:
        note = "no rows ingested yet" if frame is not None else "table not created yet"
        return dg.AssetCheckResult(passed=True, metadata={"rows": 0, "note": note})
    frame, copies = collapse_copies(frame)
    outcome = summarize(validate(frame, table))
    batches = frame.groupby("shop")["_ingested_at"].max()
    metadata = {
        "rows": len(frame),
        "identical_copies_collapsed": copies,
        "batch_ingested_at": {shop: str(instant) for shop, instant in batches.items()},
        **outcome.metadata,
    }
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={key: _metadata_value(value) for key, value in metadata.items()},
    )


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.json(value) if isinstance(value, dict | list) else value


def _latest_batch_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw_shopify", table]),
        name=CHECK_NAME,
        description=f"Great Expectations suite on the latest ingested batch of raw_shopify.{table}.",
        blocking=False,
        pool=WAREHOUSE_POOL,
    )
    def _check(settings: BackInStockSettings) -> dg.AssetCheckResult:
        return check_latest_batch(settings.load(), table)

    return _check


inventory_levels_check = _latest_batch_check("inventory_levels")
orders_check = _latest_batch_check("orders")
variants_check = _latest_batch_check("variants")

checks = [inventory_levels_check, orders_check, variants_check]
