"""The console's pages on a simulated run's data in Chromium: every page renders what the run left in the
store and the published marts, and the rule an operator changed in the console before the run is the one
the next cycle's restock events were decided with."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import ADMIN, CHANGED_RULE, OPERATOR, sign_in

from backinstock.store import audit
from backinstock.store.tables import notification_jobs

# The first test pays for the simulated run (minutes on a loaded machine).
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1800)]


def _restock_events(console) -> pd.DataFrame:
    return pd.read_parquet(console.settings.marts / "restock_events.parquet")


def _event_with_jobs(console) -> str:
    """The first restock event that made jobs (some restocks find nobody waiting)."""
    with console.engine.connect() as connection:
        first = connection.execute(sa.select(sa.func.min(notification_jobs.c.id))).scalar_one()
        return connection.execute(
            sa.select(notification_jobs.c.restock_event_id).where(notification_jobs.c.id == first)
        ).scalar_one()


def test_a_rule_changed_in_the_console_decides_the_next_cycles_restock_events(simulated_run, page):
    console = simulated_run
    name, value = CHANGED_RULE
    events = _restock_events(console)
    assert len(events) > 0, "the simulated day should restock something"
    assert set(events[name]) == {value}  # every restock decided after the change carries it
    with console.engine.connect() as connection:
        [changed] = audit.entries(connection, action="rule.set")
    assert (changed["actor"], changed["details"]["after"]) == (OPERATOR, value)
    assert changed["occurred_at"] < events["decided_at"].min().tz_localize("UTC")
    event = _event_with_jobs(console)
    assert event in set(events["restock_event_id"])
    sign_in(page, console, ADMIN, f"/trace?restock_event={event}")
    assert page.locator("section.job").count() > 0  # the event's jobs, each with its attempts


def test_every_console_page_renders_the_runs_data(simulated_run, page):
    console = simulated_run
    with console.engine.connect() as connection:
        counts = dict(
            connection.execute(
                sa.select(notification_jobs.c.status, sa.func.count()).group_by(notification_jobs.c.status)
            ).all()
        )
        job_id = connection.execute(sa.select(sa.func.min(notification_jobs.c.id))).scalar_one()
    assert counts.get("sent", 0) > 0
    sign_in(page, console, ADMIN, "/queue")
    for status, count in counts.items():
        assert page.locator(f"#queue-counts tfoot [data-total={status}]").inner_text() == str(count)
    assert "sending" in page.locator("#lanes").inner_text()

    page.goto(f"{console.url}/trace?restock_event={_event_with_jobs(console)}")
    assert page.locator("section.job table.attempts tbody tr").count() > 0
    assert "accepted" in page.locator("section.job table.attempts").first.inner_text()

    page.goto(f"{console.url}/trace/jobs/{job_id}")
    assert "sent" in page.locator("#job").inner_text() or "Restock event" in page.locator("#job").inner_text()
    assert page.locator("#subscription tr", has_text="Consent shown").locator("td").inner_text().strip()

    page.goto(f"{console.url}/rules")
    assert CHANGED_RULE[0] in page.locator("#overrides").inner_text()
    page.goto(f"{console.url}/templates")
    page.frame(name="preview").wait_for_selector("#html-part")
    page.goto(f"{console.url}/audit?action=rule.set")
    assert OPERATOR in page.locator("#audit").inner_text()
    page.goto(f"{console.url}/users")
    assert page.locator("#users tbody tr").count() >= 3
    assert page.blocked == []
