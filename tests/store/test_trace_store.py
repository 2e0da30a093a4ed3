"""The trace's read model on both stores: a restock's jobs in send order, a person's jobs by contact, a job
with its attempts and the subscription it answers."""

from __future__ import annotations

from seed_rows import NOW, signup, target_for

from backinstock.store import jobs, trace


def test_jobs_of_a_restock_and_a_contact_with_their_attempts(store_engine):
    with store_engine.begin() as connection:
        ids = [signup(connection, email) for email in ("ada@example.com", "bob@example.com")]
        ranked = ((2, ids[0]), (1, ids[1]))
        targets = [target_for(connection, sid, rank=rank, restock_event_id="r-9") for rank, sid in ranked]
        jobs.enqueue_targets(connection, targets, NOW)
        claimed = jobs.claim(
            connection, lane="email", channel="email", worker_id="w", lease_seconds=60, now=NOW, limit=1
        )
        jobs.start_attempts(connection, claimed, lane="email", provider="sendgrid", now=NOW)
        of_restock = trace.jobs_of_restock(connection, "r-9")
        of_ada = trace.jobs_of_contact(connection, " ADA@example.com ")
        attempts = trace.attempts_of(connection, [row["id"] for row in of_restock])
        full = trace.job_trace(connection, claimed[0].id)
        missing = trace.job_trace(connection, 10_000)
    assert [row["contact"] for row in of_restock] == ["bob@example.com", "ada@example.com"]
    assert [row["contact"] for row in of_ada] == ["ada@example.com"]
    assert [len(attempts[row["id"]]) for row in of_restock] == [1, 0]  # bob ranks first, claimed first
    assert full["job"]["contact"] == "bob@example.com" and full["subscription"]["id"] == ids[1]
    assert [attempt["provider"] for attempt in full["attempts"]] == ["sendgrid"] and full["events"] == []
    assert missing is None
