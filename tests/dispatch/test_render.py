"""A batch renders its template once (links put in as markers, the footer and the closing of open elements
done once), and every message still carries its own links, escaped where they land in HTML; a template
that does anything to a link but print it is rendered with the job's real links instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backinstock import templates
from backinstock.settings import load_settings
from backinstock.store.jobs import Job
from dispatch import render

SHOP = "test-shop.myshopify.com"
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
real_render = templates.render


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(
        data_dir=tmp_path,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        secret_key="render-secret-key",
        shops=[{"domain": SHOP, "timezone": "UTC"}],
    )


def job(number: int, channel: str = "email") -> Job:
    return Job(
        id=number, shop=SHOP, restock_event_id="restock-1", subscription_id=100 + number,
        variant_id="gid://shopify/ProductVariant/1", channel=channel, contact=f"p{number}@example.com",
        locale="en", context={"product_title": "Tee", "shop_name": "Test Shop"}, attempt_count=0, failures=0,
        rate_limited=0, fence=1, lane="sendgrid", due_at=NOW, priority=number,
    )  # fmt: skip


def test_a_batch_renders_once_and_each_message_has_its_own_links(settings, monkeypatch):
    [lane] = settings.delivery_lanes()
    source = templates.TemplateSource(
        "{{ product_title }} is back",
        '<div><a href="{{ product_url }}">Buy</a><p>open paragraph',
        "Buy: {{ product_url }}",
        origin="test",
    )
    calls = []
    monkeypatch.setattr(templates, "render", lambda *args: calls.append(args) or real_render(*args))
    messages = [render.compose(settings, lane, job(number), source) for number in (1, 2, 3)]
    assert len(calls) == 1
    for number, message in enumerate(messages, 1):
        link = render.links(settings, job(number))
        assert f'href="{link.click}"' in message.html and f"Buy: {link.click}" in message.text
        assert f'href="{link.unsubscribe}"' in message.html and f'src="{link.open_pixel}"' in message.html
        assert message.html.index("</p></div>") < message.html.index(link.unsubscribe)  # closed, then footer
        assert "markqz" not in (message.html + message.text + message.subject).lower()
    assert len({message.html for message in messages}) == 3


def test_a_template_that_changes_a_link_gets_the_real_one(settings):
    [lane] = settings.delivery_lanes()
    source = templates.TemplateSource(
        "x",
        "<p>{{ unsubscribe_url | upper }}</p>",
        "{{ product_url | replace('/c/', '/C/') }}",
        origin="test",
    )
    message = render.compose(settings, lane, job(7), source)
    link = render.links(settings, job(7))
    assert link.unsubscribe.upper() in message.html and link.click.replace("/c/", "/C/") in message.text
    assert "markqz" not in (message.html + message.text).lower()


def test_an_sms_gets_its_link_and_the_opt_out_line(settings):
    [lane] = settings.delivery_lanes()  # an SMS lane's name only goes into the status callback
    source = templates.TemplateSource("", "", "{{ product_title }}\n back: {{ product_url }}", origin="test")
    message = render.compose(settings, lane, job(9, channel=templates.SMS), source)
    link = render.links(settings, job(9, channel=templates.SMS))
    assert message.text == f"Tee back: {link.click} Reply STOP to opt out."
