"""Data-quality checks of ingested Shopify batches, with Great Expectations.

Every batch is validated, none skipped: a batch is one shop's rows of one `raw_shopify` table stamped with
one `_ingested_at`, and `raw_shopify.validated_batches` is the watermark: each check validates, one by one,
the batches newer than the last one it validated for that shop, and records each outcome there (the
history is readable in the warehouse, the latest evaluation's in the UI as a Markdown table).

The expectations are those the table definitions cannot express (NOT NULL and column types are the raw
tables' own constraints): gid-shaped ids (staging and the storefront parse them); plausible ranges for
quantities and money; an order's shop money in its shop's currency (summing presentment money into
revenue would be wrong); no timestamp later than the poll that read it (a clock or parsing error);
`updated_at` never before `created_at`; no two versions of a row with the same `updated_at` in one batch
(staging keeps one version per `updated_at`: two different values stamped alike make it pick at random);
and a batch's volume against the shop's recent batches (a runaway re-read or duplication).

Two runs at the same instant (the demo re-runs its last cycle) land the same re-read rows twice under one
stamp: identical copies are harmless (staging keeps one), so they are collapsed before validating.

The orders check is blocking and runs in the analytics job right after the orders ingest: a failing orders
batch stops the KPI marts of that run (and the run's failure raises an alert). The inventory and variants
checks run in the `data_quality` job. GX is imported inside the checks only (seconds of import), never when
the code location loads and never on the alerts path. They run in the `warehouse` pool like every other
warehouse user.

Pure pieces (the suites as data, the batch queries, turning a GX result into pass/fail and metadata) are
plain functions so they can be tested without Dagster or GX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from backinstock.settings import Settings
from orchestration.common import WAREHOUSE_POOL
from orchestration.resources import BackInStockSettings
from orchestration.warehouse import connect, transaction

CHECK_NAME = "gx_batches"
SAMPLE_SIZE = 5
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


def _matches(column: str, regex: str) -> Expect:
    """Nulls are left alone (GX's map expectations skip them; the tables say which columns may be null)."""
    return Expect("ExpectColumnValuesToMatchRegex", {"column": column, "regex": regex})


def _unique(*columns: str) -> Expect:
    return Expect("ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)})


def _between(column: str, low: float, high: float) -> Expect:
    return Expect("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low, "max_value": high})


# Plausible ranges: a quantity or a price outside them is a unit or parsing error, not a business fact.
MAX_QUANTITY = 1_000_000
MIN_QUANTITY = -100_000  # oversold stock is negative, not by this much
MAX_MONEY = 1_000_000
# Timestamps may run ahead of ours by a little (Shopify's clock, rounding): more than this is an error.
CLOCK_SKEW = timedelta(minutes=5)
# A batch may be this many times larger than the largest of the shop's recent batches (and at least
# VOLUME_FLOOR rows): a first full read is large, a runaway duplication is larger still.
VOLUME_FACTOR = 5
VOLUME_FLOOR = 1000
RECENT_BATCHES = 10

SUITES: dict[str, list[Expect]] = {
    "inventory_levels": [
        # Shopify's level gid carries its item: gid://shopify/InventoryLevel/1?inventory_item_id=2
        _matches("inventory_level_id", gid_pattern("InventoryLevel", r"(?:\?inventory_item_id=\d+)?")),
        _matches("inventory_item_id", gid_pattern("InventoryItem")),
        _matches("location_id", gid_pattern("Location")),
        _between("available", MIN_QUANTITY, MAX_QUANTITY),
        _unique("shop", "inventory_level_id", "updated_at"),
    ],
    "orders": [
        _matches("order_id", gid_pattern("Order")),
        _between("total_price", 0, MAX_MONEY),
        # Attribution joins orders to touches on the email: when present it must look like one.
        _matches("email", EMAIL),
        Expect(
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "updated_at", "column_B": "created_at", "or_equal": True},
        ),
        _unique("shop", "order_id", "updated_at"),
    ],
    "variants": [
        _matches("variant_id", gid_pattern("ProductVariant")),
        _matches("product_id", gid_pattern("Product")),
        _matches("inventory_item_id", gid_pattern("InventoryItem")),
        # Only DENY variants can go out of stock (the restock rule).
        Expect(
            "ExpectColumnValuesToBeInSet", {"column": "inventory_policy", "value_set": ["DENY", "CONTINUE"]}
        ),
        _between("price", 0, MAX_MONEY),
        _unique("shop", "variant_id", "updated_at"),
    ],
}
# Columns that must not be later than the poll that read them.
TIMESTAMPS = {
    "inventory_levels": ["updated_at"],
    "orders": ["created_at", "updated_at"],
    "variants": ["updated_at"],
}


@dataclass(frozen=True)
class Batch:
    """One shop's rows of one table, stamped with one `_ingested_at`, and what it is judged against."""

    table: str
    shop: str
    ingested_at: datetime
    rows: pd.DataFrame
    recent_sizes: tuple[int, ...] = ()
    shop_currency: str | None = None


def batch_expectations(batch: Batch) -> list[Expect]:
    """The table's suite, with the expectations this batch's own context decides."""
    found = list(SUITES[batch.table])
    latest_allowed = batch.ingested_at + CLOCK_SKEW
    for column in TIMESTAMPS[batch.table]:
        found.append(Expect("ExpectColumnMaxToBeBetween", {"column": column, "max_value": latest_allowed}))
    if batch.recent_sizes:
        ceiling = max(VOLUME_FACTOR * max(batch.recent_sizes), VOLUME_FLOOR)
        found.append(Expect("ExpectTableRowCountToBeBetween", {"min_value": 1, "max_value": ceiling}))
    if batch.table == "orders":
        if batch.shop_currency:
            found.append(
                Expect(
                    "ExpectColumnValuesToBeInSet",
                    {"column": "currency_code", "value_set": [batch.shop_currency]},
                )
            )
        else:
            found.append(_matches("currency_code", CURRENCY_CODE))
    return found


VALIDATED_BATCHES = """
CREATE TABLE IF NOT EXISTS raw_shopify.validated_batches (
    table_name VARCHAR NOT NULL, shop VARCHAR NOT NULL, ingested_at TIMESTAMP NOT NULL,
    rows_validated INTEGER, passed BOOLEAN NOT NULL, failed_expectations VARCHAR,
    validated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, shop, ingested_at)
)"""


def _table_exists(warehouse: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = warehouse.execute(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = 'raw_shopify' AND table_name = ?",
        [table],
    ).fetchone()
    return bool(found and found[0])


def unvalidated_batches(warehouse: duckdb.DuckDBPyConnection, table: str) -> list[Batch] | None:
    """Every batch of raw_shopify.`table` newer than the shop's last validated one, oldest first, each with
    the sizes of the shop's batches before it and the shop's currency; None when the table does not exist."""
    if not _table_exists(warehouse, table):
        return None
    warehouse.execute(VALIDATED_BATCHES)
    stamps = warehouse.execute(
        f"""
        SELECT b.shop, b._ingested_at, count(*) AS size
        FROM raw_shopify.{table} AS b
        GROUP BY b.shop, b._ingested_at
        ORDER BY b._ingested_at, b.shop
        """
    ).fetchall()
    watermark = dict(
        warehouse.execute(
            "SELECT shop, max(ingested_at) FROM raw_shopify.validated_batches"
            " WHERE table_name = ? GROUP BY shop",
            [table],
        ).fetchall()
    )
    currencies = dict(
        warehouse.execute(
            "SELECT shop, arg_max(currency_code, _ingested_at) FROM raw_shopify.shops GROUP BY shop"
        ).fetchall()
        if _table_exists(warehouse, "shops")
        else []
    )
    sizes: dict[str, list[int]] = {}
    found = []
    for shop, ingested_at, size in stamps:
        recent = tuple(sizes.setdefault(shop, [])[-RECENT_BATCHES:])
        sizes[shop].append(size)
        if watermark.get(shop) is not None and ingested_at <= watermark[shop]:
            continue
        rows = warehouse.execute(
            f"SELECT * FROM raw_shopify.{table} WHERE shop = ? AND _ingested_at = ?", [shop, ingested_at]
        ).df()
        found.append(Batch(table, shop, ingested_at, rows, recent, currencies.get(shop)))
    return found


def record_batch(
    warehouse: duckdb.DuckDBPyConnection, batch: Batch, rows: int, outcome: Outcome, now: datetime
) -> None:
    warehouse.execute(
        "INSERT OR REPLACE INTO raw_shopify.validated_batches VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            batch.table,
            batch.shop,
            batch.ingested_at,
            rows,
            outcome.passed,
            ", ".join(outcome.metadata["failed_expectations"]) or None,
            now,
        ],
    )


def collapse_copies(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The batch without identical copies of a row, and how many copies were dropped."""
    distinct = frame.drop_duplicates(ignore_index=True)
    return distinct, len(frame) - len(distinct)


def build_suite(name: str, expectations: Sequence[Expect]) -> Any:
    """The expectations as a `gx.ExpectationSuite` (imports GX)."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for expect in expectations:
        suite.add_expectation(getattr(gx.expectations, expect.type)(**expect.kwargs))
    return suite


class Validator:
    """One ephemeral GX context for many batches (creating a context costs more than validating a batch)."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in logs
        self.source = self.context.data_sources.add_pandas("raw_shopify")
        self.definitions: dict[str, Any] = {}

    def validate(self, frame: pd.DataFrame, table: str, expectations: Sequence[Expect]) -> dict[str, Any]:
        """Validate `frame` (rows of raw_shopify.`table`); the result as a JSON dict."""
        if table not in self.definitions:
            asset = self.source.add_dataframe_asset(name=table)
            self.definitions[table] = asset.add_batch_definition_whole_dataframe("batch")
        batch = self.definitions[table].get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(build_suite(f"raw_shopify.{table}", expectations)).to_json_dict()


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


def check_new_batches(settings: Settings, table: str) -> dg.AssetCheckResult:
    """Validate every batch of raw_shopify.`table` not validated yet, recording each; passes when none
    failed (nothing new, or no table yet, passes with a note)."""
    path = settings.warehouse
    if not path.exists():
        return dg.AssetCheckResult(passed=True, metadata={"batches_validated": 0, "note": "no warehouse yet"})
    with connect(path) as warehouse:
        batches = unvalidated_batches(warehouse, table)
        if not batches:
            note = "table not created yet" if batches is None else "every ingested batch is validated"
            return dg.AssetCheckResult(passed=True, metadata={"batches_validated": 0, "note": note})
        validator = Validator()
        judged = []
        for batch in batches:
            frame, copies = collapse_copies(batch.rows)
            outcome = summarize(validator.validate(frame, table, batch_expectations(batch)))
            with transaction(warehouse):
                record_batch(warehouse, batch, len(frame), outcome, datetime.now(UTC).replace(tzinfo=None))
            judged.append((batch, len(frame), copies, outcome))
    failed = [(batch, outcome) for batch, _rows, _copies, outcome in judged if not outcome.passed]
    failures = [
        {"shop": batch.shop, "ingested_at": str(batch.ingested_at), **failure}
        for batch, outcome in failed
        for failure in outcome.metadata["failures"]
    ]
    metadata = {
        "batches_validated": len(judged),
        "batches_failed": len(failed),
        "rows": sum(rows for _batch, rows, _copies, _outcome in judged),
        "identical_copies_collapsed": sum(copies for _batch, _rows, copies, _outcome in judged),
        "expectations_run": sum(outcome.metadata["expectations_run"] for *_rest, outcome in judged),
        "failed_expectations": sorted(
            {name for _b, o in failed for name in o.metadata["failed_expectations"]}
        ),
        "failures": failures,
        "batches": dg.MetadataValue.md(_batches_table(judged)),
    }
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={key: _metadata_value(value) for key, value in metadata.items()},
    )


def _batches_table(judged: Sequence[tuple[Batch, int, int, Outcome]]) -> str:
    """The batches this evaluation validated, one line each, as the UI shows them."""
    lines = ["| shop | ingested at | rows | result | failed expectations |", "|---|---|---|---|---|"]
    for batch, rows, _copies, outcome in judged:
        names = ", ".join(outcome.metadata["failed_expectations"]) or "—"
        result = "passed" if outcome.passed else "FAILED"
        lines.append(f"| {batch.shop} | {batch.ingested_at} | {rows} | {result} | {names} |")
    return "\n".join(lines)


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.json(value) if isinstance(value, dict | list) else value


def _batches_check(table: str, *, blocking: bool) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["raw_shopify", table]),
        name=CHECK_NAME,
        description=f"Great Expectations on every batch of raw_shopify.{table} not validated yet.",
        blocking=blocking,
        pool=WAREHOUSE_POOL,
    )
    def _check(settings: BackInStockSettings) -> dg.AssetCheckResult:
        return check_new_batches(settings.load(), table)

    return _check


inventory_levels_check = _batches_check("inventory_levels", blocking=False)
# In the analytics job, right after the orders ingest: a failing orders batch stops that run's KPI marts.
orders_check = _batches_check("orders", blocking=True)
variants_check = _batches_check("variants", blocking=False)

checks = [inventory_levels_check, orders_check, variants_check]
