"""The published marts, read with an in-memory DuckDB over their Parquet files.

The console never opens the warehouse (its DuckDB file belongs to the pipeline, and a second process cannot
even open it while a run writes). The pipeline publishes the marts people look at as Parquet files, renamed
into place whole, each carrying the run's `as_of` in its metadata (orchestration/defs/marts/assets.py). Each
query reads the files as they are at that moment, so a new publication shows on the next page load.
"""

from __future__ import annotations

import string
import threading
from collections import OrderedDict
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
    """The Parquet marts under `folder`. Queries name marts as `{mart}` placeholders; each is replaced by its
    file's path, which DuckDB scans like a table. One in-memory database per instance; each query runs on
    its own cursor, so threads may share an instance. The last `remembered` answers are kept (see the
    module's docstring)."""

    def __init__(self, folder: Path, remembered: int = 256) -> None:
        self.folder = Path(folder)
        self._database = duckdb.connect(":memory:", config={"threads": 2})
        self._lock = threading.Lock()
        self._remembered = remembered
        self._answers: OrderedDict[tuple, list[dict[str, Any]]] = OrderedDict()

    def close(self) -> None:
        self._database.close()

    def path(self, mart: str) -> Path:
        if not mart.isidentifier():
            raise ValueError(f"not a mart name: {mart!r}")
        return self.folder / f"{mart}.parquet"

    def is_published(self, mart: str) -> bool:
        return self.path(mart).is_file()

    def _identity(self, mart: str) -> tuple[int, int, int]:
        """Which publication of `mart` is in place now (a rename brings a new inode and time)."""
        try:
            found = self.path(mart).stat()
        except FileNotFoundError:
            raise MartNotPublished(mart) from None
        return (found.st_ino, found.st_size, found.st_mtime_ns)

    def _literal(self, mart: str) -> str:
        """The file as a SQL string: DuckDB scans a quoted .parquet path like a table."""
        return "'" + str(self.path(mart)).replace("'", "''") + "'"

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:  # creating cursors is not thread-safe; using one is
            return self._database.cursor()

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of `sql` as dicts (shared with later callers: do not change them); `{mart}` names a
        published mart, `$name` a parameter."""
        names = _placeholders(sql)
        key = (sql, tuple(sorted((parameters or {}).items())), tuple(self._identity(name) for name in names))
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        cursor = self._cursor()
        try:
            result = cursor.execute(
                sql.format(**{name: self._literal(name) for name in names}), parameters or {}
            )
            columns = [column[0] for column in result.description]
            answer = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        finally:
            cursor.close()
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self._remembered:
                self._answers.popitem(last=False)
        return answer

    def publication(self, mart: str) -> Publication:
        """The `as_of` the pipeline wrote into the file and when the file appeared."""
        found = self.rows(
            f"SELECT decode(value) AS as_of FROM parquet_kv_metadata({{{mart}}}) WHERE decode(key) = 'as_of'"
        )
        published_at = datetime.fromtimestamp(self._identity(mart)[2] // 1_000_000_000, UTC)
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
