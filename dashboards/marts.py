"""The published marts, read with an in-memory DuckDB over their Parquet files.

The console never opens the warehouse (its DuckDB file belongs to the pipeline, and a second process cannot
even open it while a run writes). The pipeline publishes the marts people look at as Parquet files, renamed
into place whole, each carrying the run's `as_of` in its metadata (orchestration/defs/marts/assets.py). Each
query reads the files as they are at that moment, so a new publication shows on the next page load.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb


class MartNotPublished(LookupError):
    """A page asked for a mart the pipeline has not published yet (no cycle has run)."""

    def __init__(self, mart: str) -> None:
        super().__init__(f"{mart} has not been published yet: run a pipeline cycle")
        self.mart = mart


@dataclass(frozen=True)
class Publication:
    """What one published file says about itself."""

    mart: str
    as_of: datetime | None  # the run's as_of (UTC), from the file's metadata
    published_at: datetime  # when the file was renamed into place (UTC, the file system's clock)


class Marts:
    """The Parquet marts under `folder`. Queries name marts as `{mart}` placeholders; each is replaced by a
    scan of its file. One in-memory database per instance; each query runs on its own cursor, so threads
    may share an instance."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._database = duckdb.connect(":memory:", config={"threads": 2})
        self._lock = threading.Lock()

    def close(self) -> None:
        self._database.close()

    def path(self, mart: str) -> Path:
        if not mart.isidentifier():
            raise ValueError(f"not a mart name: {mart!r}")
        return self.folder / f"{mart}.parquet"

    def is_published(self, mart: str) -> bool:
        return self.path(mart).is_file()

    def _scan(self, mart: str) -> str:
        path = self.path(mart)
        if not path.is_file():
            raise MartNotPublished(mart)
        return "read_parquet('" + str(path).replace("'", "''") + "')"

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # creating cursors is not thread-safe; using one is
            return self._database.cursor()

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of `sql` as dicts; `{mart}` names a published mart, `$name` a parameter."""
        marts = {name: self._scan(name) for name in _placeholders(sql)}
        cursor = self._cursor()
        try:
            result = cursor.execute(sql.format(**marts), parameters or {})
            columns = [column[0] for column in result.description]
            return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        finally:
            cursor.close()

    def publication(self, mart: str) -> Publication:
        """The `as_of` the pipeline wrote into the file and when the file appeared."""
        path = self.path(mart)
        try:
            published_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            raise MartNotPublished(mart) from None
        found = self.rows(
            "SELECT decode(value) AS as_of FROM parquet_kv_metadata($path) WHERE decode(key) = 'as_of'",
            {"path": str(path)},
        )
        as_of = datetime.fromisoformat(found[0]["as_of"]).replace(tzinfo=UTC) if found else None
        return Publication(mart=mart, as_of=as_of, published_at=published_at)

    def as_of(self, *marts: str) -> datetime | None:
        """The oldest `as_of` among `marts` (what a page built from all of them is as of), None when a file
        carries none; marts not published yet are left out."""
        instants = [self.publication(mart).as_of for mart in marts if self.is_published(mart)]
        if not instants or any(instant is None for instant in instants):
            return None
        return min(instants)


def _placeholders(sql: str) -> list[str]:
    """The `{mart}` names in `sql` (str.format fields), each once."""
    names = [field for _, field, _, _ in string.Formatter().parse(sql) if field]
    return list(dict.fromkeys(names))
