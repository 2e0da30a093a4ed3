import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for

from backinstock.store import audit, jobs, provider_events, subscriptions
from backinstock.store.tables import notification_attempts, notification_jobs

POLICIES = {"email": "evidence", "idem": "resend", "relay": "hold"}


def _enqueue(store_engine, emails, *, restock="restock-1", ranks=None, now=NOW):
    with store_engine.begin() as connection:
        ids = [signup(connection, email) for email in emails]
        targets = [
            target_for(connection, sid, rank=rank, restock_event_id=restock)
            for rank, sid in zip(ranks or range(1, len(ids) + 1), ids, strict=True)
        ]
        return jobs.enqueue_targets(connection, targets, now), targets


def _claim(store_engine, *, worker="w1", now=NOW, lease=300, limit=10, lane="email", **filters):
    with store_engine.begin() as connection:
        return jobs.claim(
            connection,
            lane=lane,
            channel="email",
            worker_id=worker,
            lease_seconds=lease,
            now=now,
            limit=limit,
            **filters,
        )


def _rows(store_engine):
    with store_engine.connect() as connection:
        return {row.id: row for row in connection.execute(sa.select(notification_jobs))}


def _attempts(store_engine):
    with store_engine.connect() as connection:
        return connection.execute(
            sa.select(notification_attempts).order_by(
                notification_attempts.c.job_id, notification_attempts.c.id
            )
        ).all()


def _start(store_engine, claimed, *, now=NOW, lane="email"):
    with store_engine.begin() as connection:
        return jobs.start_attempts(connection, claimed, lane=lane, provider="sendgrid", now=now)


def _answer(store_engine, started, outcome, *, at=NOW, message_id=None):
    with store_engine.begin() as connection:
        jobs.record_answers(
            connection,
            [
                jobs.Answer(item.job_id, item.attempt_number, outcome, 202, message_id, None, None, 12.5, at)
                for item in started
            ],
        )


def test_enqueue_freezes_the_message_and_is_idempotent(store_engine):
    inserted, targets = _enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    with store_engine.begin() as connection:
        again = jobs.enqueue_targets(connection, targets, NOW + timedelta(hours=1))
        rows = connection.execute(sa.select(notification_jobs).order_by(notification_jobs.c.id)).all()
    assert (inserted, again, len(rows)) == (2, 0, 2)
    job = rows[0]
    assert (job.status, job.priority, job.due_at, job.attempt_count, job.fence) == ("pending", 1, NOW, 0, 0)
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


def test_a_held_out_target_is_due_after_the_holdouts_delay_and_not_claimed_before(store_engine):
    """The incrementality holdout (docs/architecture.md): a held-out target's job waits its delay; the
    dispatcher, claiming only due jobs, sends it then and not before."""
    with store_engine.begin() as connection:
        treated, held_out = (signup(connection, email) for email in ("t@example.com", "h@example.com"))
        targets = [
            {**target_for(connection, treated, rank=1), "is_held_out": False, "holdout_delay_minutes": 60},
            {**target_for(connection, held_out, rank=2), "is_held_out": True, "holdout_delay_minutes": 60},
        ]
        assert jobs.enqueue_targets(connection, targets, NOW) == 2
    due = {row.contact: row.due_at for row in _rows(store_engine).values()}
    assert due == {"t@example.com": NOW, "h@example.com": NOW + timedelta(minutes=60)}
    assert [job.contact for job in _claim(store_engine, now=NOW + timedelta(minutes=59))] == ["t@example.com"]
    assert [job.contact for job in _claim(store_engine, now=NOW + timedelta(minutes=60))] == ["h@example.com"]


def test_a_claim_takes_due_jobs_in_due_then_signup_order_under_a_lease_and_a_new_fence(store_engine):
    _enqueue(store_engine, ["a@example.com", "b@example.com", "c@example.com"], ranks=[2, 1, 3])
    _enqueue(store_engine, ["d@example.com"], restock="restock-0", now=NOW - timedelta(minutes=1))
    _enqueue(store_engine, ["later@example.com"], restock="restock-9", now=NOW + timedelta(minutes=1))
    claimed = _claim(store_engine, limit=3, lease=45)
    assert [job.contact for job in claimed] == ["d@example.com", "b@example.com", "a@example.com"]
    rows = _rows(store_engine)
    for job in claimed:
        row = rows[job.id]
        assert (row.status, row.lane, row.lease_owner, row.fence) == ("sending", "email", "w1", 1)
        assert row.lease_expires_at == NOW + timedelta(seconds=45) and job.fence == 1
    rest = _claim(store_engine, limit=10)
    assert [job.contact for job in rest] == ["c@example.com"]  # `later` is not due yet
    assert _claim(store_engine, limit=10) == []


def test_claims_respect_the_lanes_shops_and_leave_out_quiet_ones(store_engine):
    _enqueue(store_engine, ["a@example.com"])
    assert _claim(store_engine, shops=["other.myshopify.com"]) == []
    assert _claim(store_engine, exclude_shops=[SHOP]) == []
    assert len(_claim(store_engine, shops=[SHOP])) == 1


def test_the_claim_reads_the_claimable_index(store_engine):
    """The claim's plan walks the partial index in claim order instead of sorting every due row."""
    statement = (
        sa.select(notification_jobs.c.id)
        .where(
            sa.text("status IN ('pending', 'retry_scheduled')"),
            notification_jobs.c.channel == "email",
            notification_jobs.c.due_at <= NOW,
        )
        .order_by(notification_jobs.c.due_at, notification_jobs.c.priority, notification_jobs.c.id)
        .limit(200)
    )
    with store_engine.connect() as connection:
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if connection.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
            )
            assert "ix_notification_jobs_claimable" in plan and "TEMP B-TREE" not in plan, plan
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"))
            assert "ix_notification_jobs_claimable" in plan and "Sort" not in plan, plan


def test_only_the_fence_holder_moves_a_job_and_notified_follows_sent(store_engine):
    _enqueue(store_engine, ["ada@example.com"])
    [job] = _claim(store_engine)
    stale = jobs.Job(**{**job.__dict__, "fence": job.fence - 1})
    with store_engine.begin() as connection:
        assert jobs.start_attempts(connection, [stale], lane="email", provider="sendgrid", now=NOW) == []
        assert jobs.mark_sent(connection, [stale.ref], NOW) == set()
        assert subscriptions.get_subscription(connection, job.subscription_id)["status"] == "active"
    [started] = _start(store_engine, [job])
    _answer(store_engine, [started], "accepted", message_id="m-1", at=NOW + timedelta(seconds=1))
    with store_engine.begin() as connection:
        assert jobs.mark_sent(connection, [job.ref], NOW + timedelta(seconds=2)) == {job.id}
        subscription = subscriptions.get_subscription(connection, job.subscription_id)
    row = _rows(store_engine)[job.id]
    assert (row.status, row.provider_message_id, row.sent_at, row.lease_owner) == (
        "sent",
        "m-1",
        NOW + timedelta(seconds=1),
        None,
    )
    assert row.attempt_in_flight is None and row.attempt_count == 1
    assert (subscription["status"], subscription["notified_at"]) == ("notified", NOW + timedelta(seconds=2))
    [attempt] = _attempts(store_engine)
    assert (attempt.attempt_number, attempt.outcome, attempt.lane, attempt.latency_ms) == (
        1,
        "accepted",
        "email",
        12.5,
    )


def test_no_attempt_is_started_under_an_expired_lease(store_engine):
    _enqueue(store_engine, ["ada@example.com"])
    [job] = _claim(store_engine, lease=10)
    assert _start(store_engine, [job], now=NOW + timedelta(seconds=11)) == []
    assert _start(store_engine, [job], now=NOW + timedelta(seconds=9))[0].attempt_number == 1


def test_recovery_requeues_what_was_never_sent_and_holds_what_may_have_been(store_engine):
    _enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    never_called, maybe_sent = _claim(store_engine, lease=60)
    _start(store_engine, [maybe_sent])
    later = NOW + timedelta(seconds=61)
    with store_engine.begin() as connection:
        early = jobs.recover_expired_leases(
            connection, NOW + timedelta(seconds=59), policies=POLICIES, max_attempts=5
        )
        recovery = jobs.recover_expired_leases(connection, later, policies=POLICIES, max_attempts=5)
    assert (early.requeued, early.held) == (0, 0)
    assert (recovery.requeued, recovery.held, recovery.resolved) == (1, 1, {})
    rows = _rows(store_engine)
    assert (rows[never_called.id].status, rows[never_called.id].due_at) == ("retry_scheduled", later)
    assert rows[never_called.id].fence == never_called.fence + 1
    held = rows[maybe_sent.id]
    assert (held.status, held.attempt_in_flight, held.last_error_class) == ("held", 1, "unknown")
    assert held.last_error == jobs.AWAITING_EVIDENCE  # the lane's policy waits for the provider's events
    [attempt] = _attempts(store_engine)
    assert (attempt.outcome, attempt.finished_at) == ("unknown", later)


@pytest.mark.parametrize("order", ["worker_first", "recovery_first"])
def test_recovery_and_a_late_worker_never_both_win(store_engine, order):
    """The interleaving that once sent a job twice: a worker whose lease has run out (by the store's
    clock) records its attempt at the moment lease recovery runs. Whatever the order, either the worker
    holds the row first and recovery then holds the job (outcome unknown), or recovery moves the fence
    first and the worker records nothing (so it never calls the provider)."""
    _enqueue(store_engine, ["ada@example.com"])
    [job] = _claim(store_engine, lease=5)
    worker_now, recovery_now = NOW + timedelta(seconds=4), NOW + timedelta(seconds=6)
    results = {}
    if order == "worker_first":
        connection = store_engine.connect()
        transaction = connection.begin()
        results["started"] = jobs.start_attempts(
            connection, [job], lane="email", provider="sendgrid", now=worker_now
        )

        def recover():
            with store_engine.begin() as other:
                results["recovery"] = jobs.recover_expired_leases(
                    other, recovery_now, policies={"email": "hold"}, max_attempts=5
                )

        thread = threading.Thread(target=recover)
        thread.start()
        time.sleep(0.5)  # recovery is now waiting on the worker's row (PostgreSQL) or write lock (SQLite)
        assert thread.is_alive()
        transaction.commit()
        connection.close()
        thread.join(timeout=30)
        assert len(results["started"]) == 1
        assert (results["recovery"].held, results["recovery"].requeued) == (1, 0)
        assert _rows(store_engine)[job.id].status == "held"
    else:
        with store_engine.begin() as connection:
            results["recovery"] = jobs.recover_expired_leases(
                connection, recovery_now, policies={"email": "hold"}, max_attempts=5
            )
        assert _start(store_engine, [job], now=worker_now) == []
        assert (results["recovery"].held, results["recovery"].requeued) == (0, 1)
        assert _rows(store_engine)[job.id].status == "retry_scheduled" and _attempts(store_engine) == []
    with store_engine.begin() as connection:
        assert jobs.mark_sent(connection, [job.ref], recovery_now) == set()  # the old fence moves nothing
    again = _claim(store_engine, now=recovery_now)
    assert len(again) == (0 if order == "worker_first" else 1)  # a held job is not sent again by itself


def _held_job(store_engine, email="ada@example.com", lane="email"):
    _enqueue(store_engine, [email])
    [job] = _claim(store_engine, lease=10, lane=lane)
    [started] = _start(store_engine, [job], lane=lane)
    with store_engine.begin() as connection:
        jobs.recover_expired_leases(
            connection, NOW + timedelta(seconds=11), policies=POLICIES, max_attempts=5
        )
    return job, started


def _event(job_id, kind, event_id):
    return provider_events.ProviderEvent(
        lane="email",
        provider="sendgrid",
        event_type=kind,
        job_id=job_id,
        provider_message_id="sg-1",
        recipient="ada@example.com",
        occurred_at=NOW,
        detail=None,
        dedupe_key=event_id,
        payload="{}",
    )


def test_held_jobs_resolve_from_a_late_answer_or_the_providers_evidence(store_engine):
    late, late_started = _held_job(store_engine, "late@example.com")
    _answer(store_engine, [late_started], "accepted", message_id="sg-late")
    evidenced, _ = _held_job(store_engine, "evidence@example.com")
    dropped, _ = _held_job(store_engine, "dropped@example.com")
    waiting, _ = _held_job(store_engine, "waiting@example.com")
    later = NOW + timedelta(minutes=1)
    with store_engine.begin() as connection:
        provider_events.record(
            connection, [_event(evidenced.id, "delivered", "e1"), _event(dropped.id, "dropped", "e2")], later
        )
        counts = jobs.resolve_held(connection, later, policies=POLICIES, max_attempts=5)
        notified = subscriptions.get_subscription(connection, evidenced.subscription_id)["status"]
    assert counts == {"sent": 2, "failed_permanent": 1}
    rows = _rows(store_engine)
    assert (rows[late.id].status, rows[late.id].provider_message_id) == ("sent", "sg-late")
    assert (rows[evidenced.id].status, rows[evidenced.id].provider_message_id, notified) == (
        "sent",
        "sg-1",
        "notified",
    )
    assert rows[dropped.id].status == "failed_permanent"
    assert (rows[waiting.id].status, rows[waiting.id].last_error) == ("held", jobs.AWAITING_EVIDENCE)
    resolved = {row.job_id: row for row in _attempts(store_engine)}
    assert (resolved[evidenced.id].outcome, resolved[evidenced.id].resolved_by) == (
        "accepted",
        "provider_event:1",
    )


def test_an_idempotent_lane_sends_an_unknown_outcome_again_and_a_relay_lane_holds_it(store_engine):
    resent, _ = _held_job(store_engine, "idem@example.com", lane="idem")
    kept, _ = _held_job(store_engine, "relay@example.com", lane="relay")
    rows = _rows(store_engine)
    assert (rows[resent.id].status, rows[resent.id].failures) == ("retry_scheduled", 1)
    assert (rows[kept.id].status, rows[kept.id].last_error) == ("held", jobs.HELD_FOR_REVIEW)


def test_replay_puts_dead_letters_and_held_jobs_back_with_an_audit_row(store_engine):
    held, _ = _held_job(store_engine, "held@example.com")
    _enqueue(store_engine, ["dead@example.com", "other@example.com"], restock="restock-2")
    dead, other = _claim(store_engine, limit=2)
    with store_engine.begin() as connection:
        for job, error_class in ((dead, "template"), (other, "transient")):
            jobs.close(connection, job.ref, status="dead_letter", error="x", error_class=error_class, now=NOW)
        with pytest.raises(ValueError, match="filter"):
            jobs.replay(connection, actor="ops@example.com", now=NOW, reason="oops")
        with pytest.raises(ValueError, match="reason"):
            jobs.replay(connection, actor="ops@example.com", now=NOW, reason=" ", everything=True)
        one = jobs.replay(
            connection,
            actor="ops@example.com",
            now=NOW,
            reason="template fixed",
            source="10.0.0.1",
            error_class="template",
        )
        rest = jobs.replay(connection, actor="ops@example.com", now=NOW, reason="all", everything=True)
        trail = audit.entries(connection, action="jobs.replay")
    assert one == [dead.id] and sorted(rest) == sorted([held.id, other.id])
    rows = _rows(store_engine)
    for job_id in (dead.id, held.id, other.id):
        row = rows[job_id]
        assert (row.status, row.due_at, row.failures, row.attempt_in_flight) == ("pending", NOW, 0, None)
    assert trail[1]["details"] == {
        "before": {"filter": {"error_class": "template"}},
        "after": {"replayed": 1, "job_ids": [dead.id]},
        "reason": "template fixed",
        "source": "10.0.0.1",
    }
    assert (
        trail[0]["details"]["before"] == {"filter": "everything"} and trail[0]["actor"] == "ops@example.com"
    )


def test_release_keeps_the_place_and_withdraw_removes_an_attempt_never_made(store_engine):
    _enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    kept, withdrawn = _claim(store_engine, limit=2)
    [started] = _start(store_engine, [withdrawn])
    with store_engine.begin() as connection:
        assert jobs.release(connection, [kept.ref], due_at=None, reason="end of run", now=NOW) == 1
        assert jobs.release(connection, [withdrawn.ref], due_at=None, reason="x", now=NOW) == 0  # in flight
        assert (
            jobs.withdraw(connection, [started], due_at=NOW + timedelta(seconds=30), reason="paused", now=NOW)
            == 1
        )
    rows = _rows(store_engine)
    assert (rows[kept.id].status, rows[kept.id].due_at, rows[kept.id].fence) == ("pending", NOW, 2)
    assert (rows[withdrawn.id].status, rows[withdrawn.id].attempt_count) == ("pending", 0)
    assert rows[withdrawn.id].due_at == NOW + timedelta(seconds=30) and _attempts(store_engine) == []


def test_two_workers_claiming_at_once_never_share_a_job(store_engine):
    with store_engine.begin() as connection:
        ids = [signup(connection, f"c{n}@example.com") for n in range(120)]
        jobs.enqueue_targets(connection, [target_for(connection, sid, rank=1) for sid in ids], NOW)
    start = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def work(worker: str) -> None:
        start.wait()
        while batch := _claim(store_engine, worker=worker, limit=7):
            claimed[worker].extend(job.id for job in batch)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert len(claimed["a"]) + len(claimed["b"]) == 120
    owners = {job_id: row.lease_owner for job_id, row in _rows(store_engine).items()}
    assert all(owners[job_id] == worker for worker, ids in claimed.items() for job_id in ids)
