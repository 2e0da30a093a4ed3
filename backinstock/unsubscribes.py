"""One-click unsubscribes that are never lost, even while the store is busy.

An unsubscribe from a signed link names the shop and the subscription (both inside the token), so it can
be written down without reading the store. The storefront first tries the store, waiting a bounded time for
a busy writer (`honour`); when that fails the request goes to a spool: an append-only file, one JSON line
per request, flushed with fsync before the person is told it worked. Whoever sends next applies the spool
first (the dispatcher before each claim, the storefront in the background), so no message leaves after an
unsubscribe was answered. Applying is idempotent: a line applied twice changes nothing the second time.

The spool holds ids and instants only, never a contact. It lives on the storefront's machine
(`data_dir/spool`): run the dispatcher on the same machine, or let the storefront apply it (it does, every
few seconds).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from backinstock.clock import format_instant, parse_instant
from backinstock.store import subscriptions
from backinstock.store.engine import SQLITE_BUSY_TIMEOUT_MS, set_busy_timeout

log = logging.getLogger("backinstock.unsubscribes")

SPOOL_NAME = "unsubscribes.jsonl"
TAKEN_SUFFIX = ".applying"
LOCK_NAME = "unsubscribes.lock"


@dataclass(frozen=True)
class Unsubscribe:
    """A person's one-click unsubscribe: every live alert of the subscription's contact at the shop ends."""

    shop: str
    subscription_id: int
    at: datetime
    source: str = "unsubscribe link"

    def line(self) -> bytes:
        record = {"shop": self.shop, "subscription_id": self.subscription_id, "at": format_instant(self.at)}
        return (json.dumps({**record, "source": self.source}, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, line: str) -> Unsubscribe:
        record = json.loads(line)
        return cls(
            shop=str(record["shop"]),
            subscription_id=int(record["subscription_id"]),
            at=parse_instant(record["at"]),
            source=str(record["source"]),
        )


def apply(connection: sa.Connection, request: Unsubscribe) -> bool:
    """Unsubscribe the contact of the request's subscription at its instant; False when the shop has no
    such subscription (nothing is done)."""
    return subscriptions.unsubscribe_subscriber(
        connection,
        shop=request.shop,
        subscription_id=request.subscription_id,
        source=request.source,
        now=request.at,
    )


@contextlib.contextmanager
def bounded_wait(engine: sa.Engine, seconds: float) -> Iterator[sa.Connection]:
    """A transaction that waits at most `seconds` for another writer's locks, then raises OperationalError
    (SQLite's busy timeout, PostgreSQL's lock_timeout), instead of the store's usual patience."""
    milliseconds = max(int(seconds * 1000), 1)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            set_busy_timeout(connection.connection.driver_connection, milliseconds)
        else:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{milliseconds}ms'")
        try:
            yield connection
            connection.commit()
        finally:
            connection.rollback()
            if sqlite:
                set_busy_timeout(connection.connection.driver_connection, SQLITE_BUSY_TIMEOUT_MS)


class Spool:
    """The durable fallback: an append-only file of unsubscribes not yet in the store.

    Writers append under an exclusive lock (`flock` on a lock file) and fsync; an applier takes the whole
    file under the same lock by renaming it (new requests start a new file), applies it in one transaction,
    and deletes it only after the commit. A taken file left by a crashed applier is applied by the next.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / SPOOL_NAME

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    def append(self, request: Unsubscribe) -> None:
        """Write the request durably: when this returns, a crash cannot lose it."""
        with self._locked():
            created = not self.path.exists()
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, request.line())
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            if created:
                self._sync_folder()

    def pending(self) -> bool:
        """Anything waiting to be applied (cheap: two directory lookups, no lock)."""
        return self.path.exists() or any(self.folder.glob(f"*{TAKEN_SUFFIX}"))

    def _take(self) -> list[Path]:
        """Every spool file to apply: the current one (renamed away under the lock) and leftovers."""
        with self._locked():
            if self.path.exists():
                os.rename(self.path, self.folder / f"{SPOOL_NAME}.{uuid.uuid4().hex}{TAKEN_SUFFIX}")
                self._sync_folder()
        return sorted(self.folder.glob(f"*{TAKEN_SUFFIX}"), key=lambda path: path.stat().st_mtime)

    def apply(self, engine: sa.Engine) -> int:
        """Apply everything spooled in one store transaction, then forget it; returns requests applied.
        A store error propagates and the spool stays as it was, to be applied next time."""
        if not self.pending():
            return 0
        files = self._take()
        requests = [request for path in files for request in _read(path)]
        with engine.begin() as connection:
            for request in requests:
                apply(connection, request)
        for path in files:
            with contextlib.suppress(FileNotFoundError):  # another applier finished it first
                path.unlink()
        if requests:
            log.info("applied %d spooled unsubscribes", len(requests))
        return len(requests)

    def _sync_folder(self) -> None:
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _read(path: Path) -> list[Unsubscribe]:
    """The requests in a spool file; a line torn by a crash mid-write (never acknowledged) is skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    requests = []
    for line in text.splitlines():
        try:
            requests.append(Unsubscribe.parse(line))
        except (ValueError, KeyError, TypeError):
            log.warning("skipped an unreadable spool line in %s", path.name)
    return requests


def spool_of(data_dir: Path) -> Spool:
    """The spool of the deployment whose data folder is `data_dir`."""
    return Spool(Path(data_dir) / "spool")
