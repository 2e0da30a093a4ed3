"""The queue monitor and its actions in the browser: counts from a dispatcher's real run against the
provider fakes, a dead letter replayed from the page and then sent, a lane resumed, all audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import ADMIN, csrf_token, sign_in, start_console
from dispatch_harness import delivery_world
from seed_rows import NOW

from backinstock.store import audit, lanes
from simulator.providers.accounts import Forced


@pytest.fixture
def delivery(settings, store_url):
    yield from delivery_world(settings, store_url)


@pytest.mark.browser
def test_a_dead_letter_replayed_from_the_queue_page_is_sent(delivery, page):
    delivery.enqueue(["ada@example.com", "bob@example.com"])
    delivery.account("sendgrid").forced.append(Forced(status=500, recipient="ada@example.com", calls=None))
    failing = delivery.with_settings(dispatch={"max_attempts": 1})
    report = delivery.run(lanes=["sendgrid"], settings=failing)
    assert (report.sent, report.dead_letter) == (1, 1)
    ada, bob = delivery.jobs()
    assert (ada.status, bob.status) == ("dead_letter", "sent")
    delivery.account("sendgrid").forced.clear()  # the provider is healthy again

    with start_console(delivery.settings) as console:
        sign_in(page, console, path="/queue")
        counts = page.locator("#queue-counts tfoot")
        assert counts.locator("[data-total=dead_letter]").inner_text() == "1"
        assert counts.locator("[data-total=sent]").inner_text() == "1"
        row = page.locator(f"#replayable tr[data-job='{ada.id}']")
        assert "ada@example.com" in row.inner_text()  # admin may see contacts
        row.locator("input[name=reason]").fill("provider outage over")
        row.locator("button").click()
        page.wait_for_url(f"{console.url}/queue?replayed=1")
        assert "Replayed 1 job(s)" in page.locator("[role=status]").inner_text()
        assert page.locator("#queue-counts tfoot [data-total=pending]").inner_text() == "1"
        assert page.blocked == []

    assert delivery.run(lanes=["sendgrid"]).sent == 1
    ada, _ = delivery.jobs()
    assert ada.status == "sent"
    with delivery.engine.connect() as connection:
        [replayed] = audit.entries(connection, action="jobs.replay")
    assert (replayed["actor"], replayed["details"]["source"]) == (ADMIN, "127.0.0.1")
    assert replayed["details"]["after"]["job_ids"] == [ada.id]
    assert replayed["details"]["reason"] == "provider outage over"


@pytest.mark.browser
def test_a_paused_lane_shows_its_reason_and_resumes_from_the_page(delivery, page):
    delivery.enqueue(["ada@example.com"])
    delivery.run(lanes=["sendgrid"])  # writes the lane rows
    with delivery.engine.begin() as connection:
        lanes.stop(connection, "sendgrid", reason="401 from SendGrid: API key revoked", now=NOW)
    with start_console(delivery.settings) as console:
        sign_in(page, console, path="/queue")
        row = page.locator("#lanes tr", has_text="sendgrid")
        assert "stopped since" in row.inner_text() and "API key revoked" in row.inner_text()
        row.locator("input[name=reason]").fill("new key configured")
        row.locator("button").click()
        page.wait_for_url(f"{console.url}/queue?resumed=sendgrid")
        assert "sending" in page.locator("#lanes tr", has_text="sendgrid").inner_text()
    with delivery.engine.connect() as connection:
        [resumed] = audit.entries(connection, action="lane.resume")
    assert resumed["details"]["reason"] == "new key configured"


def test_replay_refuses_without_a_reason_or_a_filter_and_changes_nothing(console):
    with console.signed_in(ADMIN) as browser:
        token = csrf_token(browser.get("/queue").text)
        no_reason = browser.post("/queue/replay", data={"csrf_token": token, "everything": "yes"})
        assert no_reason.status_code == 400 and "a replay needs a reason" in no_reason.text
        no_filter = browser.post("/queue/replay", data={"csrf_token": token, "reason": "why not"})
        assert no_filter.status_code == 400 and "name a job or a filter" in no_filter.text
        bad_job = browser.post("/queue/replay", data={"csrf_token": token, "reason": "x", "job_id": "1; --"})
        assert bad_job.status_code == 400
        unknown_lane = browser.post("/lanes/nope/resume", data={"csrf_token": token, "reason": "x"})
        assert unknown_lane.status_code == 404
    with console.engine.connect() as connection:
        assert audit.entries(connection, action="jobs.replay") == []


def test_the_audit_page_filters_by_actor_action_and_day(console):
    with console.engine.begin() as connection:
        for minutes, actor, action in (
            (0, "ops", "rule.set"),
            (1, "ops", "jobs.replay"),
            (2, "eve", "rule.set"),
        ):
            audit.record(
                connection, actor=actor, action=action, target_type="rule", target_id="t", before=1, after=2,
                now=NOW + timedelta(minutes=minutes), reason=f"r{minutes}", source="10.0.0.1",
            )  # fmt: skip
        audit.record(
            connection, actor="ops", action="rule.set", target_type="rule", target_id="t",
            now=NOW + timedelta(days=2),
        )  # fmt: skip
    with console.signed_in(ADMIN) as browser:
        page = browser.get("/audit", params={"actor": "ops", "action": "rule.set"}).text
        assert page.count("<td>rule.set</td>") == 2 and "r0" in page and "r2" not in page
        day = browser.get("/audit", params={"since": NOW.date().isoformat(), "until": NOW.date().isoformat()})
        assert day.text.count("<td>rule.set</td>") == 2 and "jobs.replay" in day.text
        assert browser.get("/audit", params={"since": "yesterday"}).status_code == 400
