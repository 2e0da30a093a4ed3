"""The dbt project as Dagster sees it: one cached DbtProject with a manifest that is never stale."""

from __future__ import annotations

import sys
from functools import cache, cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dbt.version import __version__ as dbt_core_version
from packaging import version

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dbt from this interpreter's environment, found without relying on PATH (e.g. `.venv/bin/python -m ...`).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
SOURCE_PATTERNS = (
    "dbt_project.yml",
    "profiles.yml",
    "models/**/*",
    "macros/**/*",
    "tests/**/*",
    "seeds/**/*",
)


def _newest_source_change(project_dir: Path) -> float:
    return max(
        (
            path.stat().st_mtime
            for pattern in SOURCE_PATTERNS
            for path in project_dir.glob(pattern)
            if path.is_file()
        ),
        default=0.0,
    )


@cache
def dbt_project() -> DbtProject:
    """The project, parsed (`dbt parse`) when its manifest is missing or older than any of its files."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    manifest = project.manifest_path
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_change(DBT_PROJECT_DIR):
        dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


class LocalDbtCliResource(DbtCliResource):
    """dbt from this environment. dagster-dbt otherwise learns the dbt version by running `dbt --version`
    in a subprocess on every invocation (the cache lives on a resource instance each run rebuilds), which
    costs a whole dbt import, about 4 s a cycle; the executable beside this interpreter is this dbt-core."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version)


def dbt_cli(project: DbtProject) -> DbtCliResource:
    return LocalDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
