"""The execution trace in the browser, and markup where it shows what strangers wrote: product titles (from
the shop) and consent fields (from the signup form). Nothing runs; everything reads as text."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import ADMIN, sign_in
from seed_rows import NOW, SHOP, signup, target_for, variant_row

from backinstock.store import catalog, jobs, subscriptions

MARKUP = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


def _hostile_job(engine) -> int:
    """A job whose product title and subscription's consent fields are markup; one failed attempt."""
    with engine.begin() as connection:
        catalog.upsert_variants(connection, [variant_row(1, product_title="Shirt " + MARKUP)], NOW)
        consent = subscriptions.Consent(
            text="Tell me " + MARKUP, method="storefront_form", source="https://shop/" + MARKUP,
            ip="203.0.113.9", user_agent="Mozilla " + MARKUP,
        )  # fmt: skip
        subscription = subscriptions.subscribe(
            connection, shop=SHOP, variant_id="gid://shopify/ProductVariant/1",
            product_id="gid://shopify/Product/1001", channel="email", contact="ada@example.com",
            locale="en", client_id=None, consent=consent, now=NOW,
        ).subscription_id  # fmt: skip
        jobs.enqueue_targets(connection, [target_for(connection, subscription, restock_event_id="r-1")], NOW)
        [job] = jobs.claim(
            connection, lane="email", channel="email", worker_id="t", lease_seconds=60, now=NOW, limit=1
        )
        [started] = jobs.start_attempts(connection, [job], lane="email", provider="sendgrid", now=NOW)
        answer = jobs.Answer(job.id, started.attempt_number, "transient", 503, None, "Service Unavailable",
                             30.0, 120.0, NOW)  # fmt: skip
        jobs.record_answers(connection, [answer])
        jobs.schedule_retry(
            connection, (job.id, started.fence), due_at=NOW + timedelta(seconds=30), error="503",
            error_class="transient", now=NOW,
        )  # fmt: skip
    return job.id


def _not_run(page) -> None:
    assert page.title() != "pwned"
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("script:not([src])").count() == 0


@pytest.mark.browser
def test_the_trace_shows_jobs_attempts_and_consent_with_markup_as_text(console, page):
    job_id = _hostile_job(console.engine)
    sign_in(page, console, path="/trace")
    page.fill("input[name=restock_event]", "r-1")
    page.click("text=Find")
    section = page.locator(f"section[data-job='{job_id}']")
    assert "Shirt " + MARKUP in section.inner_text()
    assert "ada@example.com" in section.inner_text()
    attempt = section.locator("table.attempts tbody tr").first.inner_text()
    assert "503" in attempt and "transient" in attempt and "Service Unavailable" in attempt
    _not_run(page)
    page.click(f"text=Job {job_id}")
    page.wait_for_url(f"{console.url}/trace/jobs/{job_id}")
    consent = page.locator("#subscription").inner_text()
    assert "Tell me " + MARKUP in consent and "Mozilla " + MARKUP in consent and "https://shop/" in consent
    _not_run(page)
    page.goto(f"{console.url}/queue")
    _not_run(page)
    assert page.blocked == []


@pytest.mark.browser
def test_contacts_and_consent_details_are_masked_without_view_contacts(console, page):
    job_id = _hostile_job(console.engine)
    console.add_user("operator", ["view_queue"])
    sign_in(page, console, "operator", path="/trace")
    page.fill("input[name=contact]", "ADA@example.com")
    page.click("text=Find")
    section = page.locator(f"section[data-job='{job_id}']")
    assert "a***@example.com" in section.inner_text() and "ada@example.com" not in page.content()
    page.goto(f"{console.url}/trace/jobs/{job_id}")
    assert "203.0.113.9" not in page.content() and "Mozilla" not in page.content()
    assert "needs the view_contacts permission" in page.locator("#subscription").inner_text()


def test_trace_search_by_job_and_bad_input(console):
    job_id = _hostile_job(console.engine)
    with console.signed_in(ADMIN) as browser:
        found = browser.get("/trace", params={"job": str(job_id)})
        assert found.status_code == 303 and found.headers["location"] == f"/trace/jobs/{job_id}"
        assert browser.get("/trace", params={"job": "x"}).status_code == 400
        assert browser.get("/trace/jobs/999999").status_code == 404
        assert browser.get("/trace", params={"contact": "a" * 400}).status_code == 400


def test_a_large_restock_counts_every_job_and_shows_the_first_hundred_in_full(console):
    with console.engine.begin() as connection:
        ids = [signup(connection, f"p{n}@example.com") for n in range(130)]
        targets = [
            target_for(connection, sid, rank=rank, restock_event_id="r-big")
            for rank, sid in enumerate(ids, 1)
        ]
        jobs.enqueue_targets(connection, targets, NOW)
    with console.signed_in(ADMIN) as browser:
        page = browser.get("/trace", params={"restock_event": "r-big"}).text
    assert "130 job(s), the first 100 shown with their attempts" in page and "pending 130" in page
    assert page.count('class="panel job"') == 100
