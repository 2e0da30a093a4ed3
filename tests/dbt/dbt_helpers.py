"""Running dbt on a test's own warehouse, and reading what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[2]
PROJECT_DIR = REPO / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


def dbt(
    command: str,
    warehouse: Path,
    work: Path,
    variables: dict[str, Any],
    *arguments: str,
    as_of: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`dbt <command>` on `warehouse`, its target and logs under `work`. `as_of` reaches the models as the
    pipeline passes it (BACKINSTOCK_AS_OF), which keeps dbt's partial parse between runs."""
    environment = {**os.environ, "BACKINSTOCK_WAREHOUSE_PATH": str(warehouse), "DO_NOT_TRACK": "1"}
    if as_of is not None:
        environment["BACKINSTOCK_AS_OF"] = as_of
    return subprocess.run(
        [
            str(DBT), command, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
            "--vars", json.dumps(variables), *arguments,
        ],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip


def rows(warehouse: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        cursor = connection.execute(sql)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
