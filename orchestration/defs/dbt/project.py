"""The dbt project as Dagster sees it: one cached DbtProject with a manifest that is never stale."""

from __future__ import annotations

import fcntl
import hashlib
import sys
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dbt.version import __version__ as dbt_core_version
from packaging import version

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# dbt from this interpreter's environment, found without relying on PATH (e.g. `.venv/bin/python -m ...`).
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
FINGERPRINT_FILE = "source_fingerprint"
SOURCE_PATTERNS = (
    "dbt_project.yml",
    "profiles.yml",
    "models/**/*",
    "macros/**/*",
    "tests/**/*",
    "seeds/**/*",
)


def source_fingerprint(project_dir: Path) -> str:
    """A digest of every source file's path, size and modification time: it changes when a file is added,
    changed or removed (a newest-mtime test misses removals)."""
    entries = sorted(
        f"{path.relative_to(project_dir)}\t{stat.st_size}\t{stat.st_mtime_ns}"
        for pattern in SOURCE_PATTERNS
        for path in project_dir.glob(pattern)
        if path.is_file() and (stat := path.stat())
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def manifest_is_current(project: DbtProject) -> bool:
    stamp = project.manifest_path.parent / FINGERPRINT_FILE
    return (
        project.manifest_path.exists()
        and stamp.exists()
        and stamp.read_text() == source_fingerprint(project.project_dir)
    )


@cache
def dbt_project(project_dir: Path = DBT_PROJECT_DIR) -> DbtProject:
    """The project (the product's, or a copy a test changed), parsed (`dbt parse`) when its manifest is
    missing or any source file was added, changed or removed since the manifest was built."""
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    if manifest_is_current(project):
        return project
    # Processes that import the code location at once (webserver, daemon, code server, test workers) parse
    # one at a time: the first writes the manifest, the others find it current.
    project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with open(project.manifest_path.parent / "parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest_is_current(project):
            fingerprint = source_fingerprint(project.project_dir)
            dbt_cli(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
            (project.manifest_path.parent / FINGERPRINT_FILE).write_text(fingerprint)
    return project


class LocalDbtCliResource(DbtCliResource):
    """dbt from this environment, without dagster-dbt's costly extras. dagster-dbt otherwise learns the dbt
    version by running `dbt --version` in a subprocess on every invocation (the cache lives on a resource
    instance each run rebuilds), which costs a whole dbt import, about 4 s a cycle; the executable beside
    this interpreter is this dbt-core."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        """No adapter in this process: dagster-dbt builds one (loading every macro, ~5 s of CPU per run)
        only to fetch row counts and columns through it, and the product counts rows itself
        (orchestration/defs/dbt/assets.py), once dbt has released the DuckDB file."""
        return None


def dbt_cli(project: DbtProject) -> DbtCliResource:
    return LocalDbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE)
