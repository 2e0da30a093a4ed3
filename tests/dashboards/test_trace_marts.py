"""The trace's part that comes from the published marts, on hand-made marts written by the pipeline's own
publish step: the rules a restock was decided with, its batches and targets (masked without view_contacts),
the jobs credited with an order, and the latest events; pages still answer before anything is published."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest
from conftest import ADMIN, sign_in
from seed_rows import NOW, SHOP, signup, target_for

from backinstock.store import jobs
from orchestration.defs.marts.assets import publish_mart

EVENT = "r-marts"
TITLE = "Shirt <img src=x onerror=\"document.title='pwned'\">"


def _publish(console, tables: dict[str, list[dict]]) -> None:
    with duckdb.connect(":memory:") as warehouse:
        for name, rows in tables.items():
            frame = pd.DataFrame(rows)  # noqa: F841 (read by DuckDB's replacement scan)
            warehouse.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            publish_mart(warehouse, name, console.settings.marts, datetime(2026, 11, 3, tzinfo=UTC))


@pytest.fixture
def decided(console):
    """Three targets of one restock: two released in batch 1, one still held; a job for the first, credited
    with an order."""
    with console.engine.begin() as connection:
        ids = [signup(connection, f"p{n}@example.com") for n in range(3)]
        jobs.enqueue_targets(connection, [target_for(connection, ids[0], restock_event_id=EVENT)], NOW)
    at = datetime(2026, 11, 2, 11, 50)
    event = {
        "restock_event_id": EVENT, "shop": SHOP, "variant_id": "gid://shopify/ProductVariant/1",
        "product_id": "gid://shopify/Product/1001", "restocked_at": at, "decided_at": at,
        "fired_by": "restock", "previous_restocked_at": None, "sellable_quantity": 7, "threshold": 2,
        "debounce_minutes": 5, "cooldown_hours": 24, "counted_locations": None, "batch_multiplier": 1.0,
        "batch_interval_minutes": 90, "release_mode": "automatic",
    }  # fmt: skip
    targets = [
        {"target_id": f"t{rank}", "restock_event_id": EVENT, "shop": SHOP, "subscription_id": sid,
         "channel": "email", "contact": f"p{rank - 1}@example.com", "signed_up_at": at, "target_rank": rank,
         "product_title": TITLE, "variant_title": "M"}
        for rank, sid in enumerate(ids, 1)
    ]  # fmt: skip
    releases = [
        {"target_id": f"t{rank}", "restock_event_id": EVENT, "batch_number": 1, "released_at": at,
         "released_by": "restock"}
        for rank in (1, 2)
    ]  # fmt: skip
    attributions = [{"shop": SHOP, "order_id": "gid://shopify/Order/77", "job_id": 1}]
    _publish(console, {"restock_events": [event], "notification_targets": targets,
                       "target_releases": releases, "notification_attributions": attributions})  # fmt: skip
    return console


@pytest.mark.browser
def test_a_restock_shows_its_rules_batches_and_targets_from_the_marts(decided, page):
    sign_in(page, decided, ADMIN, "/trace")
    page.locator("#recent a", has_text=EVENT).click()
    page.wait_for_selector("#rules-used")
    assert page.locator("#rules-used [data-rule=batch_interval_minutes]").inner_text() == "90"
    assert page.locator("#rules-used [data-rule=threshold]").inner_text() == "2"
    assert page.locator("#restock [data-rule=sellable_quantity]").inner_text() == "7"
    batches = page.locator("#batches tbody tr")
    assert [batches.nth(n).inner_text().split("\t")[:2] for n in range(2)] == [["1", "2"], ["held", "1"]]
    assert "p0@example.com" in page.locator("#targets").inner_text()
    assert page.locator("section.job").count() == 1
    assert page.title() != "pwned" and page.locator("img[src=x]").count() == 0


def test_targets_are_masked_without_view_contacts_and_orders_find_their_jobs(decided):
    decided.add_user("operator", ["view_queue"])
    with decided.signed_in("operator") as operator:
        page = operator.get("/trace", params={"restock_event": EVENT}).text
        assert "p0***" not in page and "p***@example.com" in page and "p0@example.com" not in page
        found = operator.get("/trace", params={"order": "77"})
        assert found.status_code == 200 and 'data-job="1"' in found.text
        assert operator.get("/trace", params={"order": "not-an-order"}).status_code == 400


def test_the_trace_answers_before_anything_is_published(console):
    with console.signed_in(ADMIN) as browser:
        assert "None published yet" in browser.get("/trace").text
        answer = browser.get("/trace", params={"restock_event": "r-unknown"})
        assert answer.status_code == 200 and "do not hold this event" in answer.text
        assert "not published yet" in browser.get("/trace", params={"order": "5"}).text
