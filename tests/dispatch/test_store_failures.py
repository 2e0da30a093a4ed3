"""A database error inside the dispatcher's launcher or flusher fails the run loudly (the error is raised
from `run`, so `backinstock dispatch` exits non-zero and Dagster's run fails), promptly rather than at the
end of the run, and leaves every job recoverable: once the store works again, a later run finishes them
with exactly one accepted message each.

The errors are real: a trigger in the store (SQLite or PostgreSQL) refuses the statement the task runs."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW

REFUSAL = "the store refuses this write"


def refuse(engine: sa.Engine, table: str, event: str, when: str) -> None:
    """A trigger that makes the store refuse `event` on `table` (rows matching `when`)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_write BEFORE {event} ON {table} WHEN {when.replace('row.', 'NEW.')}"
                f" BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS"
                f" $$ BEGIN RAISE EXCEPTION '{REFUSAL}'; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_write BEFORE {event} ON {table} FOR EACH ROW"
                f" WHEN ({when.replace('row.', 'NEW.')}) EXECUTE FUNCTION refuse_write()"
            )


def allow(engine: sa.Engine, table: str) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER refuse_write")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER refuse_write ON {table}")
            connection.exec_driver_sql("DROP FUNCTION refuse_write()")


@pytest.mark.parametrize(
    ("task", "table", "event", "when"),
    [
        # the launcher records attempts just before calling the provider
        ("launcher", "notification_attempts", "INSERT", "1 = 1"),
        # the flusher writes the answers: a job becomes `sent`
        ("flusher", "notification_jobs", "UPDATE", "row.status = 'sent'"),
    ],
)
def test_a_store_error_in_a_task_fails_the_run_and_loses_nothing(delivery, task, table, event, when):
    emails = [f"r{n}@example.com" for n in range(30)]
    delivery.enqueue(emails)
    refuse(delivery.engine, table, event, when)
    started = time.monotonic()
    with pytest.raises(sa.exc.DBAPIError, match=REFUSAL):
        delivery.run(lanes=["sendgrid"], for_seconds=60)
    assert time.monotonic() - started < 30, "the failure was noticed only at the end of the run"
    sendgrid = delivery.account("sendgrid")
    if task == "launcher":
        assert sendgrid.requests == []  # no provider call without its attempt on record
    else:
        assert sendgrid.accepted  # sent, but the answers could not be written
        assert {job.status for job in delivery.jobs()} <= {"sending", "pending"}

    # The store works again; once the failed run's leases expire, a run finishes every job, each once:
    # answers that were lost are resolved from the provider's event webhooks (our job id in each).
    allow(delivery.engine, table)
    delivery.wait_for_events(len(sendgrid.accepted))
    delivery.clock.set(NOW + timedelta(seconds=delivery.settings.dispatch.lease_seconds + 1))
    report = delivery.run(lanes=["sendgrid"])
    jobs = delivery.jobs()
    assert Counter(job.status for job in jobs) == {"sent": len(emails)}, report
    assert Counter(accepted.job_id for accepted in sendgrid.accepted) == {str(job.id): 1 for job in jobs}
