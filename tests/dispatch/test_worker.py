"""The dispatcher end to end on loopback: what it sends, what it records, what it skips, defers, holds."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from seed_rows import NOW, SHOP, variant_row

from backinstock import templates, tokens
from backinstock.store import alerts, jobs, lanes, subscriptions, suppressions
from backinstock.store.catalog import upsert_variants


def token_in(text, path):
    part = r"[A-Za-z0-9_\-]+"
    found = re.search(rf"http://127\.0\.0\.1:\d+/{path}/({part}\.{part}\.{part})", text)
    return found.group(1)


def test_one_message_with_its_headers_links_and_escaped_html(delivery):
    title = 'Tee <b>&</b> "Co"'
    [subscription_id] = delivery.enqueue(["ada@example.com"], product_title=title)
    report = delivery.run(lanes=["sendgrid"])

    assert (report.claimed, report.sent, report.stopped) == (1, 1, None)
    [request] = delivery.account("sendgrid").requests
    [accepted] = delivery.account("sendgrid").accepted
    [job] = delivery.jobs()
    assert (request.recipient, request.job_id, request.status) == ("ada@example.com", str(job.id), 202)
    assert (job.status, job.lane, job.provider_message_id, job.sent_at) == (
        "sent",
        "sendgrid",
        accepted.message_id,
        NOW,
    )
    [attempt] = delivery.attempts()
    assert (attempt.attempt_number, attempt.provider, attempt.lane, attempt.status_code, attempt.outcome) == (
        1, "sendgrid", "sendgrid", 202, "accepted",
    )  # fmt: skip
    assert attempt.started_at == NOW and attempt.latency_ms > 0
    with delivery.engine.connect() as connection:
        subscription = subscriptions.get_subscription(connection, subscription_id)
    assert (subscription["status"], subscription["notified_at"]) == ("notified", NOW)
    delivery.clock.set(NOW + timedelta(hours=1))
    again = delivery.run(lanes=["sendgrid"])
    assert again.claimed == 0 and len(delivery.account("sendgrid").requests) == 1


def test_the_sendgrid_body_carries_links_tokens_headers_and_our_ids(delivery):
    title = 'Tee <b>&</b> "Co"'
    [subscription_id] = delivery.enqueue(["ada@example.com"], product_title=title)
    bodies = []
    front = delivery.fakes.hub.fronts["sendgrid"]
    original = front.handle
    front.handle = lambda account, request, now: (
        bodies.append(request.json()),
        original(account, request, now),
    )[1]
    delivery.run(lanes=["sendgrid"])
    [body] = bodies
    [job] = delivery.jobs()
    assert body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
    assert body["from"] == {"email": "alerts@example.com", "name": "Back in Stock"}
    assert body["subject"] == f"{title} is back in stock at Test Shop"
    text, html = (part["value"] for part in body["content"])
    assert title in text and "Tee &lt;b&gt;&amp;&lt;/b&gt; &#34;Co&#34;" in html and "<b>&</b>" not in html
    assert body["custom_args"] == {
        "job_id": str(job.id),
        "shop": SHOP,
        "variant_id": "gid://shopify/ProductVariant/1",
    }
    keys = delivery.settings.token_keys
    unsubscribe = token_in(html, "u")

    def claims(purpose, token):
        found = tokens.verify(keys, purpose, token, now=NOW)
        return (found.shop, found.value)

    assert claims(tokens.CLICK, token_in(html, "c")) == (SHOP, str(job.id))
    assert claims(tokens.OPEN, token_in(html, "o")) == (SHOP, str(job.id))
    assert claims(tokens.UNSUBSCRIBE, unsubscribe) == (SHOP, str(subscription_id))
    assert f"{delivery.storefront_url}/u/{unsubscribe}" in text
    assert body["headers"] == {
        "List-Unsubscribe": f"<{delivery.storefront_url}/u/{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": False},
        "open_tracking": {"enable": False},
    }


def test_opt_outs_suppressions_and_missing_consent_are_skipped_at_send_time(delivery):
    ids = delivery.enqueue(["ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"])
    with delivery.engine.begin() as connection:
        subscriptions.unsubscribe_contact(
            connection, shop=SHOP, channel="email", contact="ada@example.com", source="test", now=NOW
        )
        suppressions.suppress(
            connection,
            shop=SHOP,
            channel="email",
            contact="bob@example.com",
            reason="complaint",
            source="t",
            now=NOW,
        )
        connection.execute(
            sa.text("UPDATE subscriptions SET consent_text = '' WHERE id = :id"), {"id": ids[3]}
        )
    report = delivery.run(lanes=["sendgrid"])
    assert (report.skipped, report.sent) == (3, 1)
    ada, bob, cy, dee = delivery.jobs()
    assert (ada.status, ada.last_error, ada.last_error_class) == (
        "skipped",
        "subscription is unsubscribed",
        "ineligible",
    )
    assert (bob.status, bob.last_error) == ("skipped", "contact is suppressed (complaint)")
    assert (dee.status, dee.last_error) == ("skipped", "no proof of consent")
    assert cy.status == "sent"
    assert [request.recipient for request in delivery.account("sendgrid").requests] == ["cy@example.com"]
    assert len(delivery.attempts()) == 1


def test_a_broken_template_dead_letters_naming_it_and_a_replay_after_the_fix_sends(delivery):
    delivery.enqueue(["ada@example.com", "bob@example.com"], locale="de")
    good = {
        "subject": "Wieder da",
        "body_html": "<p>{{ product_title }}</p>",
        "body_text": "{{ product_title }}",
    }
    with delivery.engine.begin() as connection:
        version = templates.save_version(
            connection, shop=SHOP, channel="email", locale="de", actor="ops", now=NOW, **good
        )
        templates.publish(
            connection, shop=SHOP, channel="email", locale="de", version=version, actor="ops", now=NOW
        )
        # A template that renders on sample data but fails on this product's price (None): saved directly.
        connection.execute(sa.text("UPDATE templates SET body_html = '{{ price|float / 0 }}'"))
    report = delivery.run(lanes=["sendgrid"])
    assert (report.dead_letter, report.sent, report.claimed) == (2, 0, 2)
    first, _ = delivery.jobs()
    assert first.status == "dead_letter" and first.last_error_class == "template"
    assert first.last_error.startswith(
        f"template failure: template {SHOP}/email/de/back_in_stock v1 (html): "
    )
    assert "ZeroDivisionError" in first.last_error
    assert delivery.attempts() == [] and delivery.account("sendgrid").requests == []
    with delivery.engine.begin() as connection:
        templates.publish(
            connection, shop=SHOP, channel="email", locale="de", version=version, actor="ops", now=NOW
        )
        jobs.replay(connection, actor="ops", now=NOW, reason="template fixed", error_class="template")
    assert delivery.run(lanes=["sendgrid"]).sent == 2


def test_other_locales_fall_back_to_english_and_catalog_edits_do_not_change_the_message(delivery):
    delivery.enqueue(["ada@example.com"], locale="pt-BR")
    with delivery.engine.begin() as connection:
        upsert_variants(connection, [variant_row(1, product_title="Renamed", updated_at=NOW)], NOW)
    seen = []
    front = delivery.fakes.hub.fronts["sendgrid"]
    original = front.handle
    front.handle = lambda account, request, now: (
        seen.append(request.json()),
        original(account, request, now),
    )[1]
    assert delivery.run(lanes=["sendgrid"]).sent == 1
    assert seen[0]["subject"] == "Linen Shirt 1 is back in stock at Test Shop"


def test_a_rate_limit_pauses_the_lane_for_every_worker_until_the_hinted_second(delivery):
    delivery.enqueue(["ada@example.com", "bob@example.com"])
    delivery.account("sendgrid").forced.append(_forced(429, retry_after_seconds=600))
    first = delivery.run(lanes=["sendgrid"], settings=delivery.with_settings(dispatch={"batch_size": 1}))
    assert (first.rate_limited_answers, first.retry_scheduled, first.sent) == (1, 1, 0)
    ada, _ = delivery.jobs()
    assert (ada.status, ada.rate_limited, ada.failures, ada.last_error_class) == (
        "retry_scheduled",
        1,
        0,
        "rate_limited",
    )
    assert ada.due_at == NOW + timedelta(seconds=600)
    [attempt] = delivery.attempts()
    assert (attempt.status_code, attempt.outcome, attempt.retry_after_seconds) == (429, "rate_limited", 600)
    with delivery.engine.connect() as connection:
        lane = lanes.get_lane(connection, "sendgrid")
    assert lane["paused_until"] == NOW + timedelta(seconds=600) and "429" in lane["pause_reason"]
    # Another worker, a minute later: the lane is paused, so it sends nothing at all.
    delivery.clock.set(NOW + timedelta(seconds=60))
    other = delivery.run(lanes=["sendgrid"], for_seconds=1)
    assert other.claimed == 0 and len(delivery.account("sendgrid").requests) == 1
    assert other.lanes["sendgrid"].state.startswith("paused until 2026-11-02T12:10:00Z")
    delivery.clock.set(NOW + timedelta(seconds=600))
    after = delivery.run(lanes=["sendgrid"])
    assert after.sent == 2 and {job.status for job in delivery.jobs()} == {"sent"}


def test_an_account_refusal_stops_the_lane_with_an_alert_until_a_person_resumes_it(delivery):
    delivery.enqueue(["ada@example.com", "bob@example.com", "cy@example.com"])
    delivery.account("sendgrid").forced.append(_forced(401))
    report = delivery.run(
        lanes=["sendgrid"], settings=delivery.with_settings(dispatch={"batch_size": 1}), for_seconds=2
    )
    assert report.lanes["sendgrid"].state.startswith("stopped: sendgrid refused the account: 401")
    assert len(delivery.account("sendgrid").requests) == 1
    first, *rest = delivery.jobs()
    assert (first.status, first.due_at, first.failures, first.last_error_class) == (
        "retry_scheduled",
        NOW,
        0,
        "account",
    )
    assert {job.status for job in rest} == {"pending"}
    with delivery.engine.begin() as connection:
        [alert] = alerts.open_alerts(connection)
        assert alert["subject"] == "sendgrid"
        lanes.resume(connection, "sendgrid", actor="ops@example.com", now=NOW, reason="key rotated")
    assert delivery.run(lanes=["sendgrid"]).sent == 3


def _forced(status, **extra):
    from simulator.providers import Forced

    return Forced(status=status, **extra)


def test_a_run_that_ends_while_jobs_wait_for_their_rate_slots_returns_and_gives_them_back(delivery):
    """The launcher ends with the run while the feeder still has jobs queued: the run returns on time
    (it once waited for the queue forever) and the unsent jobs are pending again, keeping their place."""
    delivery.enqueue([f"r{n}@example.com" for n in range(40)])
    lanes_ = [
        lane.model_copy(update={"rate_per_second": 10.0}) if lane.name == "sendgrid" else lane
        for lane in delivery.settings.lanes
    ]
    settings = delivery.with_settings(lanes=lanes_, dispatch={"batch_size": 20})
    started = time.monotonic()
    report = delivery.run(lanes=["sendgrid"], settings=settings, for_seconds=1.0, until_idle=False)
    assert time.monotonic() - started < 5
    statuses = Counter(job.status for job in delivery.jobs())
    assert statuses == {"sent": report.sent, "pending": 40 - report.sent} and 0 < report.sent < 40
    assert report.released == report.claimed - report.sent
    unsent = [job for job in delivery.jobs() if job.status == "pending"]
    assert {job.due_at for job in unsent} == {NOW} and all(job.lease_owner is None for job in unsent)
