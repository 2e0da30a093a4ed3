"""A fault storm from the simulator's SendGrid fake: 30% 429 with Retry-After, 10% 5xx, 5% accepted and then
answered too late (the client times out after the provider took the message), plus recipients the provider
refuses. Every job ends sent, failed_permanent or dead_letter (or held, waiting for evidence) with its
reason; no job the provider accepted is left anything but sent; nothing is sent inside a Retry-After
window, judged by the fake's own log."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

from dispatch_harness import ScaledClock
from seed_rows import NOW

from simulator.providers import Faults, Forced

RECIPIENTS = 80
REFUSED = ["refused-1@example.com", "refused-2@example.com", "refused-3@example.com"]
SPEED = 20.0  # clock seconds per real second: a 2 s Retry-After lasts 0.1 s
RETRY_AFTER = 2.0
CONCURRENCY = 4


def test_a_fault_storm_ends_every_job_with_its_reason_and_honours_every_retry_after(delivery):
    contacts = [f"r{n}@example.com" for n in range(RECIPIENTS)] + REFUSED
    delivery.enqueue(contacts)
    account = delivery.account("sendgrid")
    account.configure(
        Faults(
            rate_limited_share=0.30,
            retry_after_seconds=RETRY_AFTER,
            server_error_share=0.10,
            accepted_then_slow_share=0.05,
            slow_seconds=1.0,  # real seconds; the lane gives up after 0.3
            event_delay_seconds=1,
            seed=11,
        )
    )
    for contact in REFUSED:
        account.forced.append(
            Forced(400, recipient=contact, calls=None, body={"errors": [{"field": "to", "message": "bad"}]})
        )
    delivery.clock.follow(ScaledClock(NOW, SPEED))
    lanes = [
        lane.model_copy(update={"timeout_seconds": 0.3, "concurrency": CONCURRENCY})
        for lane in delivery.settings.lanes
    ]
    settings = delivery.with_settings(
        lanes=lanes,
        dispatch={"backoff_base_seconds": 1.0, "backoff_cap_seconds": 4.0, "batch_size": 20},
    )

    deadline = time.monotonic() + 60
    open_states = {"pending", "sending", "retry_scheduled", "held"}
    while open_states & {job.status for job in delivery.jobs()} and time.monotonic() < deadline:
        delivery.run(lanes=["sendgrid"], settings=settings, for_seconds=3)  # until nothing is due
        time.sleep(0.05)
    jobs = delivery.jobs()
    statuses = Counter(job.status for job in jobs)
    assert set(statuses) <= {"sent", "failed_permanent", "dead_letter"}, statuses

    requests = account.requests
    decisions = Counter(request.decision for request in requests)
    assert decisions["rate_limit"] >= 20 and decisions["server_error"] >= 5, decisions
    attempts = delivery.attempts()
    timed_out = [a for a in attempts if a.error_message and a.error_message.startswith("no answer")]
    resolved = [a for a in attempts if a.resolved_by and a.resolved_by.startswith("provider_event:")]
    assert timed_out and len(resolved) == len(timed_out), (len(timed_out), len(resolved))
    assert all(a.outcome == "accepted" for a in resolved)  # the provider's event told: it was sent

    accepted = Counter(delivery_.job_id for delivery_ in account.accepted)
    for job in jobs:
        assert accepted.get(str(job.id), 0) == (1 if job.status == "sent" else 0), job
        if job.status != "sent":
            assert job.last_error and job.last_error_class, job
    refused = {job.contact: job for job in jobs if job.contact in REFUSED}
    assert {job.status for job in refused.values()} == {"failed_permanent"}
    assert all(job.last_error_class == "permanent" for job in refused.values())
    for job in jobs:
        if job.status == "dead_letter":
            assert "attempts" in job.last_error or "rate-limited" in job.last_error, job

    # Retry-After, judged by the fake: after a 429 at t with a hint of h seconds, only requests already
    # in flight at t (at most CONCURRENCY - 1) may reach it before t + h.
    for limited in (r for r in requests if r.decision == "rate_limit"):
        window_ends = limited.at + timedelta(seconds=RETRY_AFTER)
        inside = [r for r in requests if limited.at < r.at < window_ends]
        assert len(inside) <= CONCURRENCY - 1, (limited, inside)
    # ... and by the dispatcher's own record: once told, no attempt started inside the window it had
    # read from the answer (the hint counts from the request's instant: `X-RateLimit-Reset` is absolute).
    for told in (a for a in attempts if a.outcome == "rate_limited"):
        ends = told.started_at + timedelta(seconds=told.retry_after_seconds)
        assert not [a for a in attempts if told.finished_at <= a.started_at < ends], told
