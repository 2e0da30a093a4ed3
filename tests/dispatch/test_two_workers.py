"""Two dispatchers on one store with short leases, and a clock that jumps past every lease while they
send (a machine that froze): leases run out under the workers' feet, each one's lease recovery takes jobs
from the other mid-flight (queued, being started, awaiting the provider's answer), and still no recipient
gets a message twice and none is lost (SQLite and PostgreSQL); a third worker's batch, leased and never
started, is always there to take back. The forced interleaving at the store level (a
worker records its attempt while recovery's statement runs) is
tests/store/test_jobs_store.py::test_recovery_and_a_late_worker_never_both_win."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import asdict
from datetime import timedelta

from dispatch_harness import ScaledClock
from seed_rows import NOW

from backinstock.store import jobs as job_store
from simulator.providers import Faults

RECIPIENTS = 150
LEASE_SECONDS = 2.0  # heartbeat every 0.67 s, recovery every 1 s
JUMPS = 3  # the clock leaps a lease and a half ahead, this many times, 0.4 s apart
VANISHED = 10  # jobs leased by a worker that vanished before starting them: recovery must requeue them


def test_two_workers_with_short_leases_never_send_twice_and_lose_nothing(delivery):
    delivery.enqueue([f"r{n}@example.com" for n in range(RECIPIENTS)])
    account = delivery.account("sendgrid")
    # A quarter of the answers come after 1.2 s (accepted first): jobs are in flight when leases run out.
    account.configure(
        Faults(
            latency_seconds=0.01,
            latency_jitter_seconds=0.1,
            accepted_then_slow_share=0.25,
            slow_seconds=1.2,
            event_delay_seconds=1,
        )
    )
    clock = ScaledClock(NOW, 1.0)
    # A third worker claimed a batch and vanished before recording any attempt: whatever the timing of the
    # jumps below, recovery finds leased jobs with nothing in flight and puts them back.
    with delivery.engine.begin() as connection:
        vanished = job_store.claim(
            connection,
            lane="sendgrid",
            channel="email",
            worker_id="worker-c",
            lease_seconds=LEASE_SECONDS,
            now=NOW,
            limit=VANISHED,
        )
    assert len(vanished) == VANISHED
    delivery.clock.follow(clock)
    settings = delivery.with_settings(dispatch={"lease_seconds": LEASE_SECONDS, "batch_size": 20})
    # Worker b looks for expired leases three times as often as worker a renews its own: after a jump,
    # b recovers a's jobs, some of them awaiting a's slow answers, before a's heartbeat comes.
    eager = delivery.with_settings(dispatch={"lease_seconds": LEASE_SECONDS / 3, "batch_size": 20})
    reports = {}

    def work(name: str) -> None:
        reports[name] = delivery.run(
            lanes=["sendgrid"],
            settings=settings if name == "worker-a" else eager,
            worker_id=name,
            until_idle=True,
            for_seconds=40,
        )

    threads = [threading.Thread(target=work, args=(name,)) for name in ("worker-a", "worker-b")]
    for thread in threads:
        thread.start()
    while not account.accepted and any(thread.is_alive() for thread in threads):
        time.sleep(0.01)
    for _ in range(JUMPS):
        clock.jump(clock.now() + timedelta(seconds=LEASE_SECONDS * 1.5))
        time.sleep(0.4)
    for thread in threads:
        thread.join(timeout=90)
    assert set(reports) == {"worker-a", "worker-b"}
    # Leases did run out under the workers: jobs awaiting an answer were held, others taken back (at least
    # the vanished worker's).
    held = sum(r.recovered_held for r in reports.values())
    taken_back = sum(r.recovered_requeued + r.lease_lost for r in reports.values())
    assert held > 0 and taken_back > 0, [asdict(r) for r in reports.values()]
    assert all(r.claimed for r in reports.values())  # both workers took part

    # Jobs held at recovery resolve from the late answer or the provider's event; a last run sends what
    # recovery put back after both workers had gone idle.
    deadline = time.monotonic() + 60
    while {job.status for job in delivery.jobs()} != {"sent"} and time.monotonic() < deadline:
        time.sleep(0.2)
        delivery.run(lanes=["sendgrid"], settings=settings, for_seconds=5)
    jobs = delivery.jobs()
    assert Counter(job.status for job in jobs) == {"sent": RECIPIENTS}
    accepted = Counter(delivery_.job_id for delivery_ in account.accepted)
    assert accepted == {str(job.id): 1 for job in jobs}  # one accepted message per job, by the fake's log
    assert Counter(a.recipient for a in account.accepted) == {
        f"r{n}@example.com": 1 for n in range(RECIPIENTS)
    }
    by_job = Counter(attempt.job_id for attempt in delivery.attempts() if attempt.outcome == "accepted")
    assert by_job == {job.id: 1 for job in jobs}
    assert {job.provider_message_id for job in jobs} == {d.message_id for d in account.accepted}
