import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW, signup, target_for

from backinstock.store import jobs
from backinstock.store.tables import notification_attempts, notification_jobs


def _enqueue(store_engine, emails, *, restock="restock-1"):
    with store_engine.begin() as connection:
        ids = [signup(connection, email) for email in emails]
        targets = [
            target_for(connection, sid, rank=rank, restock_event_id=restock)
            for rank, sid in enumerate(ids, 1)
        ]
        return jobs.enqueue_targets(connection, targets, NOW), targets


def _claim(store_engine, worker="w1", now=NOW, lease=300):
    with store_engine.begin() as connection:
        return jobs.claim_next(connection, channel="email", worker_id=worker, lease_seconds=lease, now=now)


def test_enqueue_freezes_the_message_and_is_idempotent(store_engine):
    inserted, targets = _enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    with store_engine.begin() as connection:
        again = jobs.enqueue_targets(connection, targets, NOW + timedelta(hours=1))
        rows = connection.execute(sa.select(notification_jobs).order_by(notification_jobs.c.id)).all()
    assert (inserted, again, len(rows)) == (2, 0, 2)
    job = rows[0]
    assert (job.status, job.priority, job.due_at, job.attempt_count) == ("pending", 1, NOW, 0)
    assert (job.contact, job.locale, job.restock_event_id) == ("ada@example.com", "en", "restock-1")
    assert job.context == {
        "target_id": "restock-1:1",
        "restock_event_id": "restock-1",
        "restocked_at": "2026-11-02T11:50:00Z",
        "product_id": "gid://shopify/Product/1001",
        "variant_id": "gid://shopify/ProductVariant/1",
        "product_title": "Linen Shirt 1",
        "variant_title": "M / Blue",
        "product_handle": "linen-shirt-1",
        "price": "49.90",
        "currency_code": "EUR",
        "shop_name": "Test Shop",
        "product_url": "https://test-shop.myshopify.com/products/linen-shirt-1?variant=1",
    }


def test_claims_follow_priority_then_id_and_set_a_lease(store_engine):
    with store_engine.begin() as connection:
        ids = [signup(connection, f"p{n}@example.com") for n in range(3)]
        targets = [target_for(connection, sid, rank=rank) for sid, rank in zip(ids, (2, 1, 2), strict=True)]
        jobs.enqueue_targets(connection, targets, NOW)
    claimed = [_claim(store_engine) for _ in range(4)]
    assert [job.subscription_id for job in claimed[:3]] == [ids[1], ids[0], ids[2]]
    assert claimed[3] is None
    with store_engine.connect() as connection:
        row = connection.execute(
            sa.select(notification_jobs).where(notification_jobs.c.id == claimed[0].id)
        ).one()
    assert (row.status, row.lease_owner, row.lease_expires_at) == (
        "sending",
        "w1",
        NOW + timedelta(seconds=300),
    )


def test_jobs_due_later_are_not_claimed_yet(store_engine):
    _enqueue(store_engine, ["ada@example.com"])
    job = _claim(store_engine)
    later = NOW + timedelta(minutes=5)
    with store_engine.begin() as connection:
        assert jobs.schedule_retry(connection, job, worker_id="w1", due_at=later, error="500", now=NOW)
    assert _claim(store_engine, now=later - timedelta(seconds=1)) is None
    assert _claim(store_engine, now=later).id == job.id


def test_only_the_lease_owner_moves_a_job(store_engine):
    _enqueue(store_engine, ["ada@example.com"])
    job = _claim(store_engine, worker="w1")
    with store_engine.begin() as connection:
        assert jobs.start_attempt(connection, job, worker_id="w2", provider="sendgrid", now=NOW) is None
        assert not jobs.mark_sent(connection, job, worker_id="w2", provider_message_id="x", now=NOW)
        attempt_id = jobs.start_attempt(connection, job, worker_id="w1", provider="sendgrid", now=NOW)
        assert jobs.mark_sent(connection, job, worker_id="w1", provider_message_id="m-1", now=NOW)
        row = connection.execute(sa.select(notification_jobs)).one()
        attempt = connection.execute(sa.select(notification_attempts)).one()
    assert (row.status, row.sent_at, row.provider_message_id, row.lease_owner) == ("sent", NOW, "m-1", None)
    assert (attempt.id, attempt.attempt_number, attempt.outcome, attempt.started_at) == (
        attempt_id,
        1,
        None,
        NOW,
    )


def test_expired_leases_resend_only_what_the_provider_never_saw(store_engine):
    _enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    never_called = _claim(store_engine, lease=60)
    maybe_sent = _claim(store_engine, lease=60)
    with store_engine.begin() as connection:
        jobs.start_attempt(connection, maybe_sent, worker_id="w1", provider="sendgrid", now=NOW)
        assert jobs.recover_expired_leases(connection, NOW + timedelta(seconds=60)) == jobs.LeaseRecovery(
            0, 0
        )
        later = NOW + timedelta(seconds=61)
        assert jobs.recover_expired_leases(connection, later) == jobs.LeaseRecovery(
            held_for_review=1, requeued=1
        )
        rows = {row.id: row for row in connection.execute(sa.select(notification_jobs))}
        attempt = connection.execute(sa.select(notification_attempts)).one()
    assert (rows[never_called.id].status, rows[never_called.id].due_at) == ("retry_scheduled", later)
    assert rows[maybe_sent.id].status == "dead_letter"
    assert rows[maybe_sent.id].last_error == jobs.HELD_FOR_REVIEW
    assert (attempt.outcome, attempt.finished_at) == ("unknown", later)


def test_close_job_refuses_states_that_are_not_final(store_engine):
    _enqueue(store_engine, ["ada@example.com"])
    job = _claim(store_engine)
    with store_engine.begin() as connection, pytest.raises(ValueError):
        jobs.close_job(connection, job, worker_id="w1", status="pending", error="x", now=NOW)


def test_two_workers_never_claim_the_same_job(store_engine):
    with store_engine.begin() as connection:
        ids = [signup(connection, f"c{n}@example.com") for n in range(40)]
        jobs.enqueue_targets(connection, [target_for(connection, sid, rank=1) for sid in ids], NOW)
    start = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def work(worker: str) -> None:
        start.wait()
        while (job := _claim(store_engine, worker=worker)) is not None:
            claimed[worker].append(job.id)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == 40
    with store_engine.connect() as connection:
        owners = dict(
            connection.execute(sa.select(notification_jobs.c.id, notification_jobs.c.lease_owner)).all()
        )
    assert all(owners[job_id] == worker for worker, ids in claimed.items() for job_id in ids)
