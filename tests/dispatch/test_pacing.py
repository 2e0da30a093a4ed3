"""Pacing under a controllable clock (the dispatcher, the fakes and the judge share it): a lane's rate,
its per-recipient-domain caps and its send windows hold, judged by when the provider's fake received each
request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch_harness import ScaledClock
from seed_rows import NOW

from dispatch import pacing


def _lane_settings(delivery, **changes):
    lanes = [
        lane.model_copy(update=changes) if lane.name == "sendgrid" else lane
        for lane in delivery.settings.lanes
    ]
    return delivery.with_settings(lanes=lanes, dispatch={"batch_size": 20})


def _until_all_sent(delivery, settings, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while {job.status for job in delivery.jobs()} != {"sent"}:
        assert time.monotonic() < deadline, Counter(job.status for job in delivery.jobs())
        delivery.run(lanes=["sendgrid"], settings=settings, for_seconds=5)
        time.sleep(0.02)


def test_the_lane_rate_holds_in_every_one_second_window(delivery):
    rate, count = 10.0, 30
    delivery.enqueue([f"r{n}@example.com" for n in range(count)])
    delivery.clock.follow(ScaledClock(NOW, 1.0))
    settings = _lane_settings(delivery, rate_per_second=rate, burst=1)
    _until_all_sent(delivery, settings)
    arrivals = _arrivals(delivery, count)
    assert _busiest_second(arrivals) <= rate + 1  # a bucket of one: the rate, plus one
    achieved = _achieved(arrivals)
    assert 0.7 * rate <= achieved <= rate * 1.02, achieved


def test_the_rate_holds_at_the_provider_when_its_process_stalls(delivery):
    """The fake's event loop stops twice for 0.6 s (a provider's pause): the requests sent meanwhile are
    stamped together when it resumes, so a worker that counted only its own launches per second went
    over (25 in a second at 20 msg/s); one that counts every request still unanswered does not."""
    rate, count = 20.0, 60
    delivery.enqueue([f"r{n}@example.com" for n in range(count)])
    delivery.clock.follow(ScaledClock(NOW, 1.0))
    settings = _lane_settings(delivery, rate_per_second=rate, burst=1)
    requests = delivery.account("sendgrid").requests
    loop = delivery.fakes.server.servers[0].get_loop()

    def stall() -> None:
        for after in (10, 35):
            deadline = time.monotonic() + 30
            while len(requests) < after and time.monotonic() < deadline:
                time.sleep(0.005)
            loop.call_soon_threadsafe(time.sleep, 0.6)

    staller = threading.Thread(target=stall, daemon=True)
    staller.start()
    _until_all_sent(delivery, settings)
    staller.join()
    arrivals = _arrivals(delivery, count)
    assert _busiest_second(arrivals) <= rate


def _arrivals(delivery, count: int) -> list[datetime]:
    arrivals = sorted(request.at for request in delivery.account("sendgrid").requests)
    assert len(arrivals) == count
    return arrivals


def _busiest_second(arrivals: list[datetime]) -> int:
    return max(
        len([at for at in arrivals[index:] if at < start + timedelta(seconds=1)])
        for index, start in enumerate(arrivals)
    )


def _achieved(arrivals: list[datetime]) -> float:
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]).total_seconds()


def test_per_domain_caps_hold_in_every_clock_minute(delivery):
    contacts = (
        [f"g{n}@gmail.com" for n in range(6)]
        + [f"e{n}@example.com" for n in range(8)]
        + [f"o{n}@other.org" for n in range(3)]
    )
    delivery.enqueue(contacts)
    delivery.clock.follow(ScaledClock(NOW, 60.0))  # a clock minute lasts a real second
    settings = _lane_settings(delivery, per_domain_per_minute=4, domain_caps={"gmail.com": 2})
    _until_all_sent(delivery, settings)
    per_minute = Counter(
        (pacing.recipient_domain(request.recipient), pacing.minute_of(request.at))
        for request in delivery.account("sendgrid").requests
    )
    caps = {"gmail.com": 2, "example.com": 4, "other.org": 4}
    assert all(sent <= caps[domain] for (domain, _), sent in per_minute.items()), per_minute
    minutes = {domain: len([key for key in per_minute if key[0] == domain]) for domain in caps}
    assert minutes["gmail.com"] >= 3 and minutes["example.com"] >= 2, minutes
    assert len(delivery.account("sendgrid").requests) == len(contacts)


def test_nothing_goes_out_in_the_shops_quiet_hours(delivery):
    berlin = ZoneInfo("Europe/Berlin")
    evening = datetime(2026, 11, 2, 20, 59, 57, tzinfo=berlin).astimezone(UTC)
    morning = datetime(2026, 11, 3, 8, 0, tzinfo=berlin).astimezone(UTC)
    delivery.enqueue([f"r{n}@example.com" for n in range(8)])
    clock = ScaledClock(evening, 1.0)
    delivery.clock.follow(clock)
    shops = [shop.model_copy(update={"timezone": "Europe/Berlin"}) for shop in delivery.settings.shops]
    settings = _lane_settings(delivery, rate_per_second=1.0, quiet_hours="21:00-08:00")
    settings = settings.model_copy(update={"shops": shops})
    report = delivery.run(lanes=["sendgrid"], settings=settings, for_seconds=6, until_idle=False)
    before = delivery.account("sendgrid").requests[:]
    assert 1 <= len(before) <= 4 and report.sent == len(before)
    waiting = [job for job in delivery.jobs() if job.status != "sent"]
    assert waiting and {job.status for job in waiting} == {"pending"}
    assert {job.due_at for job in waiting} == {morning}  # given back until the window opens
    clock.jump(morning - timedelta(seconds=1))
    _until_all_sent(delivery, settings)
    quiet_start = datetime(2026, 11, 2, 21, 0, tzinfo=berlin)
    for request in delivery.account("sendgrid").requests:
        assert not quiet_start <= request.at < morning, request
    assert len(delivery.account("sendgrid").requests) == 8
