"""The Dagster instance folder (DAGSTER_HOME): telemetry off, and the warehouse pool limited to one."""

from __future__ import annotations

from pathlib import Path

DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""


def prepare_dagster_home(folder: Path) -> Path:
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dagster.yaml").write_text(DAGSTER_YAML)
    return folder
