"""Guards on the dbt speed-ups: the manifest is rebuilt when any dbt file is added, changed or removed, and
dagster-dbt's `dbt --version` subprocess and its in-process dbt adapter stay overridden (a whole dbt import
and a load of every macro per run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource

from orchestration.defs.dbt.project import dbt_cli, dbt_project, source_fingerprint


def test_the_fingerprint_changes_when_a_file_is_added_changed_or_removed(tmp_path):
    models = tmp_path / "models" / "staging"
    models.mkdir(parents=True)
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    (models / "a.sql").write_text("select 1")
    first = source_fingerprint(tmp_path)
    assert source_fingerprint(tmp_path) == first, "stable while nothing changes"

    (models / "b.sql").write_text("select 2")
    added = source_fingerprint(tmp_path)
    assert added != first

    (models / "b.sql").write_text("select 22")
    changed = source_fingerprint(tmp_path)
    assert changed != added

    (models / "b.sql").unlink()
    removed = source_fingerprint(tmp_path)
    assert removed != changed
    # Removing the newest file leaves every remaining mtime older than the manifest: only a fingerprint
    # of the file list notices.
    assert removed == first

    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text("{}")
    assert source_fingerprint(tmp_path) == first, "dbt's own output is not a source"


def test_the_dbt_version_override_is_still_wired_into_dagster_dbt():
    """The override replaces a cached property of dagster-dbt's resource: if dagster-dbt renames it, this
    fails instead of the `dbt --version` subprocess silently coming back."""
    assert "_cli_version" in vars(DbtCliResource)
    resource = dbt_cli(dbt_project())
    from dbt.version import __version__

    assert str(resource._cli_version) == __version__


@pytest.fixture
def spawned_commands():
    """Every command this process starts while the test runs (Python's audit hook on subprocess.Popen)."""
    commands: list[list[str]] = []
    recording = [True]

    def hook(event: str, args: tuple) -> None:
        if event == "subprocess.Popen" and recording[0]:
            commands.append([os.fsdecode(part) for part in args[1]] if args[1] else [os.fsdecode(args[0])])

    sys.addaudithook(hook)
    yield commands
    recording[0] = False


def test_a_dbt_invocation_starts_dbt_once_and_never_dbt_version(spawned_commands, tmp_path):
    project = dbt_project()
    invocation = dbt_cli(project).cli(["ls", "--resource-type", "model", "--quiet"], target_path=tmp_path)
    invocation.wait()
    dbt_runs = [command for command in spawned_commands if Path(command[0]).name == "dbt"]
    assert len(dbt_runs) == 1, spawned_commands
    assert "--version" not in dbt_runs[0]
    assert "ls" in dbt_runs[0]
    # dagster-dbt's own adapter (it loads every macro in this process) is not built: the override of its
    # private method still takes effect.
    assert "_initialize_dbt_core_adapter" in vars(DbtCliResource)
    assert invocation.adapter is None
