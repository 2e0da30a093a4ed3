import re
import threading
from datetime import timedelta

import sqlalchemy as sa
from conftest import API_KEY
from seed_rows import NOW, SHOP, signup, target_for, variant_row

from backinstock import tokens
from backinstock.store import jobs, subscriptions, suppressions
from backinstock.store.catalog import upsert_variants
from backinstock.store.tables import (
    notification_attempts,
    notification_jobs,
    templates,
)
from backinstock.store.tables import (
    suppressions as suppressions_table,
)
from dispatch import dispatch_due


def enqueue(engine, emails, *, locale="en", **target_overrides):
    with engine.begin() as connection:
        ids = [signup(connection, email, locale=locale) for email in emails]
        targets = [target_for(connection, sid, rank=n, **target_overrides) for n, sid in enumerate(ids, 1)]
        jobs.enqueue_targets(connection, targets, NOW)
    return ids


def job_rows(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(notification_jobs).order_by(notification_jobs.c.id)).all()


def attempt_rows(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(notification_attempts).order_by(
                notification_attempts.c.job_id, notification_attempts.c.id
            )
        ).all()


def token_in(text, path):
    pattern = rf"https://alerts\.example\.test/{path}/([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"
    return re.search(pattern, text).group(1)


def test_sends_one_message_with_headers_links_and_escaped_html(store_engine, dispatch_settings, sendgrid):
    title = 'Tee <b>&</b> "Co"'
    [subscription_id] = enqueue(store_engine, ["ada@example.com"], product_title=title)
    report = dispatch_due(store_engine, dispatch_settings, NOW, worker_id="w1")

    assert (report.claimed, report.sent, report.stopped) == (1, 1, None)
    [request] = sendgrid.requests
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    body = request["json"]
    [job] = job_rows(store_engine)
    assert body["personalizations"] == [{"to": [{"email": "ada@example.com"}]}]
    assert body["from"] == {"email": "alerts@example.com", "name": "Back in Stock"}
    assert body["subject"] == f"{title} is back in stock at Test Shop"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    text, html = (part["value"] for part in body["content"])
    assert title in text
    assert "Tee &lt;b&gt;&amp;&lt;/b&gt; &#34;Co&#34;" in html and "<b>&</b>" not in html
    assert body["custom_args"] == {
        "job_id": str(job.id),
        "shop": SHOP,
        "variant_id": "gid://shopify/ProductVariant/1",
    }

    keys = dispatch_settings.token_keys
    unsubscribe = token_in(html, "u")

    def claims(purpose, token):
        verified = tokens.verify(keys, purpose, token, now=NOW)
        return verified.shop, verified.value

    assert claims(tokens.CLICK, token_in(html, "c")) == (SHOP, str(job.id))
    assert claims(tokens.OPEN, token_in(html, "o")) == (SHOP, str(job.id))
    assert f'src="https://alerts.example.test/o/{token_in(html, "o")}.gif"' in html
    assert claims(tokens.UNSUBSCRIBE, unsubscribe) == (SHOP, str(subscription_id))
    assert f"https://alerts.example.test/u/{unsubscribe}" in text
    assert body["headers"] == {
        "List-Unsubscribe": f"<https://alerts.example.test/u/{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["tracking_settings"] == {
        "click_tracking": {"enable": False},
        "open_tracking": {"enable": False},
    }

    assert (job.status, job.sent_at, job.provider_message_id, job.lease_owner) == ("sent", NOW, "msg-1", None)
    [attempt] = attempt_rows(store_engine)
    assert (attempt.attempt_number, attempt.provider, attempt.status_code, attempt.outcome) == (
        1,
        "sendgrid",
        202,
        "accepted",
    )
    assert attempt.started_at == NOW and attempt.finished_at >= NOW and attempt.latency_ms > 0
    assert attempt.provider_message_id == "msg-1"
    with store_engine.connect() as connection:
        subscription = subscriptions.get_subscription(connection, subscription_id)
    assert (subscription["status"], subscription["notified_at"]) == ("notified", NOW)

    again = dispatch_due(store_engine, dispatch_settings, NOW + timedelta(hours=1))
    assert again.claimed == 0 and len(sendgrid.requests) == 1


def test_rate_limit_reschedules_after_the_reset_and_pauses_the_lane(
    store_engine, dispatch_settings, sendgrid
):
    enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    reset = int(NOW.timestamp()) + 600
    sendgrid.answer(429, headers={"X-RateLimit-Reset": str(reset)}, body={"errors": [{"message": "slow"}]})
    report = dispatch_due(store_engine, dispatch_settings, NOW)

    assert report.retry_scheduled == 1 and report.sent == 0 and report.stopped.startswith("rate limited")
    first, second = job_rows(store_engine)
    assert first.status == "retry_scheduled" and first.due_at >= NOW + timedelta(seconds=600)
    assert "429" in first.last_error
    assert second.status == "pending" and len(sendgrid.requests) == 1
    [attempt] = attempt_rows(store_engine)
    assert (attempt.outcome, attempt.status_code, attempt.retry_after_seconds) == ("rate_limited", 429, 600.0)

    later = dispatch_due(store_engine, dispatch_settings, first.due_at)
    assert later.sent == 2 and [job.status for job in job_rows(store_engine)] == ["sent", "sent"]


def test_server_errors_back_off_then_dead_letter(store_engine, dispatch_settings, sendgrid):
    policy = dispatch_settings.dispatch.model_copy(
        update={"max_attempts": 3, "backoff_base_seconds": 10, "backoff_cap_seconds": 15}
    )
    settings = dispatch_settings.model_copy(update={"dispatch": policy})
    enqueue(store_engine, ["ada@example.com"])
    sendgrid.answer(500, times=3)
    now = NOW
    for failures in (1, 2):
        report = dispatch_due(store_engine, settings, now)
        [job] = job_rows(store_engine)
        assert report.retry_scheduled == 1 and job.status == "retry_scheduled"
        assert now <= job.due_at <= now + timedelta(seconds=min(15, 10 * 2 ** (failures - 1)))
        now = job.due_at
    report = dispatch_due(store_engine, settings, now)
    [job] = job_rows(store_engine)
    assert report.dead_letter == 1 and job.status == "dead_letter" and job.last_error.startswith("3 attempts")
    assert [(a.attempt_number, a.outcome, a.status_code) for a in attempt_rows(store_engine)] == [
        (1, "transient", 500),
        (2, "transient", 500),
        (3, "transient", 500),
    ]
    assert dispatch_due(store_engine, settings, now + timedelta(days=1)).claimed == 0


def test_invalid_recipient_fails_permanently_and_is_suppressed(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    invalid = {
        "errors": [{"field": "personalizations.0.to.0.email", "message": "Does not contain a valid address."}]
    }
    sendgrid.answer(400, body=invalid)
    sendgrid.answer(413, body={"errors": [{"field": None, "message": "Request entity too large"}]})
    report = dispatch_due(store_engine, dispatch_settings, NOW)

    assert report.failed_permanent == 2 and report.stopped is None
    assert [job.status for job in job_rows(store_engine)] == ["failed_permanent", "failed_permanent"]
    assert [a.outcome for a in attempt_rows(store_engine)] == ["permanent", "permanent"]
    with store_engine.connect() as connection:
        suppressed = connection.execute(
            sa.select(suppressions_table.c.contact, suppressions_table.c.reason)
        ).all()
    assert suppressed == [("ada@example.com", "invalid_address")]  # the 413 is about the message, not bob


def test_account_refusal_stops_the_run_and_keeps_the_job(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com", "bob@example.com", "cy@example.com"])
    sendgrid.answer(401, body={"errors": [{"field": None, "message": "invalid key"}]})
    report = dispatch_due(store_engine, dispatch_settings, NOW)

    assert report.stopped.startswith("provider account refused") and report.claimed == 1
    assert len(sendgrid.requests) == 1
    first, *rest = job_rows(store_engine)
    assert (first.status, first.due_at, first.lease_owner) == ("retry_scheduled", NOW, None)
    assert [job.status for job in rest] == ["pending", "pending"]
    assert [a.outcome for a in attempt_rows(store_engine)] == ["account"]
    assert dispatch_due(store_engine, dispatch_settings, NOW).sent == 3


def test_opt_outs_after_the_restock_are_skipped_at_send_time(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com", "bob@example.com", "cy@example.com"])
    with store_engine.begin() as connection:
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
    report = dispatch_due(store_engine, dispatch_settings, NOW)

    assert (report.skipped, report.sent) == (2, 1)
    ada, bob, cy = job_rows(store_engine)
    assert (ada.status, ada.last_error) == ("skipped", "subscription is unsubscribed")
    assert (bob.status, bob.last_error) == ("skipped", "contact is suppressed (complaint)")
    assert cy.status == "sent"
    assert [r["json"]["personalizations"][0]["to"][0]["email"] for r in sendgrid.requests] == [
        "cy@example.com"
    ]
    assert len(attempt_rows(store_engine)) == 1


def test_two_workers_send_each_job_once(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, [f"shopper{n}@example.com" for n in range(24)])
    start = threading.Barrier(2)
    reports = {}

    def work(worker):
        start.wait()
        reports[worker] = dispatch_due(store_engine, dispatch_settings, NOW, worker_id=worker)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    sent_job_ids = [r["json"]["custom_args"]["job_id"] for r in sendgrid.requests]
    assert len(sent_job_ids) == len(set(sent_job_ids)) == 24
    assert reports["w1"].sent + reports["w2"].sent == 24
    assert {job.status for job in job_rows(store_engine)} == {"sent"}


def test_a_lost_worker_mid_send_is_held_for_review_not_resent(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com"])
    lease = dispatch_settings.dispatch.lease_seconds
    with store_engine.begin() as connection:  # a worker that recorded its attempt, then vanished
        job = jobs.claim_next(connection, channel="email", worker_id="gone", lease_seconds=lease, now=NOW)
        jobs.start_attempt(connection, job, worker_id="gone", provider="sendgrid", now=NOW)
    assert dispatch_due(store_engine, dispatch_settings, NOW + timedelta(seconds=lease - 1)).claimed == 0
    report = dispatch_due(store_engine, dispatch_settings, NOW + timedelta(seconds=lease + 1))

    assert (report.held_for_review, report.claimed) == (1, 0)
    assert sendgrid.requests == []
    [job] = job_rows(store_engine)
    assert job.status == "dead_letter" and job.last_error == jobs.HELD_FOR_REVIEW
    assert [a.outcome for a in attempt_rows(store_engine)] == ["unknown"]


def test_unreachable_provider_is_retried_and_an_unanswered_send_held_for_review(
    store_engine, dispatch_settings, sendgrid
):
    """Never reached: safe to retry. Reached but unanswered: it may have gone out, so no automatic resend."""
    enqueue(store_engine, ["ada@example.com", "bob@example.com"])
    closed = dispatch_settings.email.model_copy(update={"api_url": "http://127.0.0.1:9"})
    dispatch_due(store_engine, dispatch_settings.model_copy(update={"email": closed}), NOW, limit=1)
    slow = dispatch_settings.email.model_copy(update={"timeout_seconds": 0.2})
    sendgrid.answer(202, delay_seconds=1.0)
    dispatch_due(store_engine, dispatch_settings.model_copy(update={"email": slow}), NOW, limit=1)

    outcomes = [(a.outcome, a.status_code) for a in attempt_rows(store_engine)]
    assert outcomes == [("transient", None), ("unknown", None)]
    assert [job.status for job in job_rows(store_engine)] == ["retry_scheduled", "dead_letter"]
    assert job_rows(store_engine)[1].last_error.startswith(jobs.UNANSWERED)


def _template_row(locale, **parts):
    return {
        "shop": SHOP,
        "name": "back_in_stock",
        "channel": "email",
        "locale": locale,
        "subject": "Wieder da: {{ product_title }}",
        "body_html": "<p>{{ product_title }} ist wieder da: <a href='{{ product_url }}'>ansehen</a></p>",
        "body_text": "{{ product_title }} ist wieder da: {{ product_url }}",
        "updated_at": NOW,
        "updated_by": "ops@example.com",
    } | parts


def test_a_shop_template_row_overrides_the_shipped_one(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com"], locale="de", product_title="Hemd <Leinen>")
    with store_engine.begin() as connection:
        connection.execute(sa.insert(templates).values(_template_row("de")))
    assert dispatch_due(store_engine, dispatch_settings, NOW).sent == 1
    body = sendgrid.requests[0]["json"]
    text, html = (part["value"] for part in body["content"])
    assert body["subject"] == "Wieder da: Hemd <Leinen>"
    assert "Hemd &lt;Leinen&gt; ist wieder da" in html
    assert "/o/" in html and "Unsubscribe</a>" in html  # the pixel and a visible link are always added
    assert "Unsubscribe: https://alerts.example.test/u/" in text


def test_other_locales_fall_back_to_english(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com"], locale="pt-BR")
    with store_engine.begin() as connection:
        connection.execute(sa.insert(templates).values(_template_row("de")))  # another locale: not used
    assert dispatch_due(store_engine, dispatch_settings, NOW).sent == 1
    assert sendgrid.requests[0]["json"]["subject"] == "Linen Shirt 1 is back in stock at Test Shop"


def test_the_sandbox_blocks_unsafe_templates_and_nothing_is_sent(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com"])
    unsafe = "{{ product_title.__class__.__mro__[1].__subclasses__() }}"
    with store_engine.begin() as connection:
        connection.execute(sa.insert(templates).values(_template_row("en", body_html=unsafe)))
    report = dispatch_due(store_engine, dispatch_settings, NOW)

    assert report.dead_letter == 1 and sendgrid.requests == []
    [job] = job_rows(store_engine)
    assert job.status == "dead_letter" and job.last_error.startswith("template error")
    assert f"templates table {SHOP}/back_in_stock/en" in job.last_error  # which template to fix
    assert attempt_rows(store_engine) == []


def test_catalog_edits_after_enqueue_do_not_change_the_message(store_engine, dispatch_settings, sendgrid):
    enqueue(store_engine, ["ada@example.com"])
    with store_engine.begin() as connection:
        upsert_variants(connection, [variant_row(1, product_title="Renamed", updated_at=NOW)], NOW)
    dispatch_due(store_engine, dispatch_settings, NOW)
    assert sendgrid.requests[0]["json"]["subject"].startswith("Linen Shirt 1 ")
