"""Templates: the metered sandbox, what no template can hide, choosing, saving and publishing versions."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from backinstock import sms, templates
from backinstock.store import audit
from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.tables import templates as published_templates
from backinstock.templates import Rendered, TemplateFailure, TemplateSource, render

NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
SHOP = "test-shop.myshopify.com"


def source(html: str, text: str = "t", subject: str = "s") -> TemplateSource:
    return TemplateSource(subject, html, text, "template under test")


def test_html_is_escaped_text_is_not_and_the_subject_is_one_line():
    rendered = render(
        TemplateSource("{{ t }}\n  at shop", "<p>{{ t }}</p>", "{{ t }}", "test"), {"t": "A & <B>"}
    )
    assert rendered == Rendered("A & <B> at shop", "<p>A &amp; &lt;B&gt;</p>", "A & <B>")


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError"),
        ("{{ nothing_here }}", "UndefinedError"),
        ("{{ t.__class__.__mro__[1].__subclasses__() }}", "SecurityError"),
        ("{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}", "SecurityError"),
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "BudgetExceeded",
        ),
        (
            "{% set s = 'x' * 99999 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
            "BudgetExceeded",
        ),
        ("{{ 'x' * 1000000000 }}", "BudgetExceeded"),
        ("{{ 'x'|center(999999999) }}", "BudgetExceeded"),
        ("{{ '%999999999s'|format('x') }}", "BudgetExceeded"),
        ("{{ '{:>999999999}'.format('x') }}", "BudgetExceeded"),
        ("{{ 'x'.ljust(999999999) }}", "BudgetExceeded"),
        ("{{ 2 ** 99999999 }}", "BudgetExceeded"),
        (
            "{% set n = namespace(s='x') %}{% for i in range(40) %}{% set n.s = n.s ~ n.s %}{% endfor %}",
            "BudgetExceeded",
        ),
        ("{% set s = 'xxxxxxxxxxxxxxxx' %}" + "{% set s = s ~ s %}" * 30, "BudgetExceeded"),
        ("{% for i in range(99999) %}{{ 'x' * 100 }}{% endfor %}", "BudgetExceeded"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{% include 'other.html' %}", "TypeError: no loader"),
        ("{% if %}", "TemplateSyntaxError"),
    ],
)
def test_every_failure_is_a_template_failure_naming_the_template_within_the_budget(html, problem):
    started = time.perf_counter()
    with pytest.raises(TemplateFailure) as failure:
        render(source(html), {"t": "x"})
    assert str(failure.value).startswith("template under test (html): " + problem)
    assert time.perf_counter() - started < 1.0


class _Visible(HTMLParser):
    """The unsubscribe link is visible: no ancestor of it is a comment, raw text or a closed element."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url, self.stack, self.found_at_depth = url, [], None

    def handle_starttag(self, tag, attrs):
        if dict(attrs).get("href") == self.url:
            self.found_at_depth = [name for name in self.stack if name not in ("html", "body")]
        if tag not in templates.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass


@pytest.mark.parametrize(
    "html",
    [
        "<p>hi</p>",
        "<html><body><div style='display:none'>unclosed</body></html>",
        "<div hidden><table><tr><td>still open",
        "<p>text <!-- a comment that never ends",
        "<style>div{display:none!important}</style><title>unclosed title",
        "<p>x</p></body></html><div style='position:fixed;top:0'>cover after the body</div>",
    ],
)
def test_the_unsubscribe_link_sits_outside_every_element_of_the_template(html):
    done = templates.finish_email(
        Rendered("s", html, "t"), unsubscribe_url="https://u/tok", open_pixel_url="https://o/p.gif"
    )
    parser = _Visible("https://u/tok")
    parser.feed(done.html)
    assert parser.found_at_depth == ["div"]  # only our own footer wraps it
    assert "display:block !important" in done.html and "cover after the body" not in done.html
    assert done.text.endswith("Unsubscribe: https://u/tok\n")


def test_plaintext_cannot_swallow_the_link():
    with pytest.raises(TemplateFailure):
        templates.finish_email(
            Rendered("s", "<plaintext>", "t"), unsubscribe_url="https://u/t", open_pixel_url=None
        )


def test_sms_says_how_to_opt_out_and_counts_segments():
    assert templates.finish_sms("Back:\n  Tee") == "Back: Tee Reply STOP to opt out."
    assert templates.finish_sms("Text STOP to end") == "Text STOP to end"
    assert sms.segments("a" * 160) == sms.Segments("GSM-7", 160, 1)
    assert sms.segments("a" * 161) == sms.Segments("GSM-7", 161, 2)
    assert sms.segments("€" * 80) == sms.Segments("GSM-7", 160, 1)  # two septets each
    assert sms.segments("é" * 70).encoding == "GSM-7"  # é is in the GSM alphabet
    assert sms.segments("ł" * 70) == sms.Segments("UCS-2", 70, 1)
    assert sms.segments("ł" * 71).count == 2
    assert sms.segments("👟" * 35) == sms.Segments("UCS-2", 70, 1)  # surrogate pairs


def test_locales_fall_back_to_language_then_english():
    assert templates.locale_chain("pt-BR") == ["pt-BR", "pt", "en"]
    assert templates.locale_chain("de") == ["de", "en"]


@pytest.fixture
def store(tmp_path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    return engine


def test_versions_are_validated_kept_published_and_audited(store):
    german = {
        "subject": "Wieder da: {{ product_title }}",
        "body_html": "<p>{{ product_title }} ist wieder da: <a href='{{ product_url }}'>ansehen</a></p>",
        "body_text": "{{ product_title }} ist wieder da: {{ product_url }}",
    }
    with store.begin() as connection:
        with pytest.raises(templates.TemplateInvalid) as invalid:
            templates.save_version(
                connection,
                shop=SHOP,
                channel="email",
                locale="de",
                actor="ops",
                now=NOW,
                **german | {"body_html": "{{ 1/0 }}"},
            )
        assert "ZeroDivisionError" in str(invalid.value)
        first = templates.save_version(
            connection, shop=SHOP, channel="email", locale="de", actor="ops", now=NOW, **german
        )
        second = templates.save_version(
            connection,
            shop=SHOP,
            channel="email",
            locale="de",
            actor="ops",
            now=NOW,
            note="shorter",
            **german | {"subject": "Da!"},
        )
        before = templates.load(connection, shop=SHOP, channel="email", locale="de-AT")
        templates.publish(
            connection, shop=SHOP, channel="email", locale="de", version=first, actor="ops", now=NOW
        )
        after_first = templates.load(connection, shop=SHOP, channel="email", locale="de-AT")
        templates.publish(
            connection, shop=SHOP, channel="email", locale="de", version=second, actor="lead", now=NOW
        )
        after_second = templates.load(connection, shop=SHOP, channel="email", locale="de-AT")
        kept = templates.versions(connection, shop=SHOP, channel="email", locale="de")
        trail = [
            (row["action"], row["actor"], row["details"].get("after")) for row in audit.entries(connection)
        ]
        rows = connection.execute(sa.select(published_templates)).all()
    assert (first, second) == (1, 2)
    assert before.origin == "shipped email/en/back_in_stock"
    assert after_first.origin.endswith("/email/de/back_in_stock v1") and after_first.subject.startswith(
        "Wieder"
    )
    assert (after_second.subject, after_second.version) == ("Da!", 2)
    assert [(row["version"], row["published_by"]) for row in kept] == [(2, "lead"), (1, "ops")]
    assert trail == [
        ("template.publish", "lead", {"version": 2}),
        ("template.publish", "ops", {"version": 1}),
        ("template.save", "ops", {"version": 2}),
        ("template.save", "ops", {"version": 1}),
    ]
    assert len(rows) == 1


def test_sms_templates_are_validated_for_length_and_previewed_with_segments(store):
    with store.begin() as connection, pytest.raises(templates.TemplateInvalid, match="1600"):
        templates.save_version(
            connection, shop=SHOP, channel="sms", locale="en", subject="", body_html="",
            body_text="{{ product_title }}" * 4, actor="ops", now=NOW,
        )  # fmt: skip
    shipped = templates.shipped("back_in_stock", "sms", "en")
    shown = templates.preview(shipped, "sms")
    assert shown.text.startswith("Demo Outfitters: Linen Shirt (M / Blue) is back in stock. https://alerts")
    assert shown.text.endswith("Reply STOP to opt out.") and shown.segments.count == 1
