"""Connections to the operational store: SQLite in WAL mode with a busy timeout, or PostgreSQL by URL.

SQLite has one writer at a time. When a writer finds the file locked, SQLite's busy handler sleeps and
tries again (1, 2, 5, 10, 15, 20, 25 ... 100 ms apart), so threads of one process that take turns writing
wait many times longer than the writes take: with 16 signups in flight, a signup's p99 was over a second.
Writers of one process therefore queue on a lock of their own per database file (`WriterQueue`), taken
before a write transaction begins and handed on the moment it commits or rolls back, first come first
served (a thread that writes in a loop cannot take the turn again ahead of those waiting), with the same
patience as the busy timeout. Other processes still meet SQLite's own lock and busy timeout.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections import deque
from pathlib import Path

import sqlalchemy as sa

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Statements SQLite runs as a write (pysqlite opens a transaction for them); a WITH may end in one.
_WRITE = re.compile(r"\s*(?:INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER)\b", re.IGNORECASE)
_WITH_WRITE = re.compile(r"\s*WITH\b.*\b(?:INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE | re.DOTALL)
_WRITER_LOCKS: dict[str, Turns] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def create_store_engine(url: str) -> sa.Engine:
    """An engine for the store at `url`; for SQLite, the folder is created and WAL mode is switched on.

    Statement parameters are never put in error messages (`hide_parameters`): they hold contacts and tokens,
    and error messages end up in logs.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    sqlite = sa.engine.make_url(url).get_backend_name() == "sqlite"
    connect_args = {"factory": WriterQueue} if sqlite else {}
    engine = sa.create_engine(url, future=True, hide_parameters=True, connect_args=connect_args)
    if sqlite:
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    set_busy_timeout(dbapi_connection, SQLITE_BUSY_TIMEOUT_MS)


def set_busy_timeout(dbapi_connection, milliseconds: int) -> None:
    """How long a SQLite connection waits for another writer (of this process or another) before it fails
    with `database is locked`."""
    dbapi_connection.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    if isinstance(dbapi_connection, WriterQueue):
        dbapi_connection.busy_timeout_ms = int(milliseconds)


class Turns:
    """A lock taken in the order it was asked for: the holder hands it straight to the longest waiting."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._guard:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._guard:
            if turn in self._waiting:
                self._waiting.remove(turn)
                return False
        return True  # handed over just as the wait ran out

    def release(self) -> None:
        with self._guard:
            if self._waiting:
                self._waiting.popleft().release()  # still held, by the next in line
            else:
                self._held = False


def _writer_lock(database: str) -> Turns:
    if database in ("", ":memory:") or database.startswith("file:"):
        return Turns()  # not a file other connections can name the same way
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(os.path.realpath(database), Turns())


class WriterQueue(sqlite3.Connection):
    """A SQLite connection whose write transactions take their turn on the process's lock for the file."""

    def __init__(self, database, *args, **kwargs) -> None:
        super().__init__(database, *args, **kwargs)
        self.writer_lock = _writer_lock(os.fsdecode(database))
        self.writing = False
        self.busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS

    def cursor(self, factory=None):
        return super().cursor(factory or QueuedCursor)

    def before(self, statement: str) -> None:
        if self.writing or self.in_transaction:
            return
        if not (_WRITE.match(statement) or _WITH_WRITE.match(statement)):
            return
        if not self.writer_lock.acquire(timeout=self.busy_timeout_ms / 1000):
            raise sqlite3.OperationalError("database is locked (by another writer of this process)")
        self.writing = True

    def after(self) -> None:
        """A write that did not leave a transaction open (autocommit, or it failed before beginning)."""
        if self.writing and not self.in_transaction:
            self._hand_on()

    def _hand_on(self) -> None:
        if self.writing:
            self.writing = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._hand_on()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._hand_on()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._hand_on()


class QueuedCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        self.connection.before(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection.after()

    def executemany(self, sql, seq_of_parameters, /):
        self.connection.before(sql)
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.after()
