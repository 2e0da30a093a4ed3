"""SQLite writers of one process take turns on the process's own lock (backinstock.store.engine)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from backinstock.store.engine import Turns, create_store_engine, set_busy_timeout


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    engine.dispose()
    return url


def _count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT count(*) FROM t").scalar_one()


def test_a_writer_waits_for_the_process_lock_as_long_as_its_busy_timeout_and_reads_never_wait(sqlite_url):
    holder, other = create_store_engine(sqlite_url), create_store_engine(sqlite_url)
    with holder.connect() as holding, other.connect() as waiting:
        holding.exec_driver_sql("INSERT INTO t VALUES (1)")  # a write transaction, left open
        assert _count(other) == 0  # readers do not queue
        set_busy_timeout(waiting.connection.driver_connection, 200)
        with pytest.raises(sa.exc.OperationalError, match="another writer of this process"):
            waiting.exec_driver_sql("INSERT INTO t VALUES (2)")
        waiting.rollback()
        holding.commit()  # hands the turn on
        waiting.exec_driver_sql("INSERT INTO t VALUES (2)")
        waiting.commit()
    assert _count(other) == 2


@pytest.mark.parametrize("end", ["rollback", "close", "autocommit", "failed"])
def test_every_way_a_write_ends_hands_the_turn_on(sqlite_url, end):
    first, second = create_store_engine(sqlite_url), create_store_engine(sqlite_url)
    connection = first.connect()
    if end == "autocommit":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    if end == "failed":
        with pytest.raises(sa.exc.OperationalError):
            connection.exec_driver_sql("INSERT INTO missing VALUES (1)")
    else:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    if end == "rollback":
        connection.rollback()
    if end == "close":
        connection.close()
    with second.connect() as waiting:
        set_busy_timeout(waiting.connection.driver_connection, 200)
        waiting.exec_driver_sql("INSERT INTO t VALUES (2)")
        waiting.commit()
    connection.close()
    assert _count(second) == (2 if end == "autocommit" else 1)


def test_turns_are_taken_in_the_order_asked_for():
    turns, order = Turns(), []
    assert turns.acquire(timeout=1)

    def wait_then_take(name: str) -> None:
        assert turns.acquire(timeout=10)
        order.append(name)
        turns.release()

    waiters = []
    for name in ("first", "second", "third"):
        waiters.append(threading.Thread(target=wait_then_take, args=(name,)))
        waiters[-1].start()
        while len(turns._waiting) < len(waiters):  # in line before the next one asks
            time.sleep(0.001)
    turns.release()
    for waiter in waiters:
        waiter.join(10)
    assert order == ["first", "second", "third"]
    assert turns.acquire(timeout=0.01)  # free again once the last one handed it on
