import pytest
from jinja2.exceptions import SecurityError

from dispatch.render import Links, Rendered, TemplateSource, finish, locale_chain, render

LINKS = Links(click="https://s/c/t1", open_pixel="https://s/o/t2.gif", unsubscribe="https://s/u/t3")


def test_locales_fall_back_to_language_then_english():
    assert locale_chain("pt-BR") == ["pt-BR", "pt", "en"]
    assert locale_chain("de") == ["de", "en"]
    assert locale_chain("en") == ["en"]


def test_html_is_escaped_text_is_not_and_the_subject_is_one_line():
    source = TemplateSource("{{ t }}\n  at shop", "<p>{{ t }}</p>", "{{ t }}", "test")
    rendered = render(source, {"t": "A & <B>"})
    assert rendered == Rendered("A & <B> at shop", "<p>A &amp; &lt;B&gt;</p>", "A & <B>")


@pytest.mark.parametrize(
    "body",
    [
        "{{ t.__class__.__mro__[1].__subclasses__() }}",
        "{{ t.format.__globals__ }}",
        "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
def test_the_sandbox_refuses_unsafe_attributes(body):
    with pytest.raises(SecurityError):
        render(TemplateSource("s", body, "t", "test"), {"t": "x"})


def test_finish_adds_the_pixel_inside_the_body_and_a_visible_unsubscribe_link():
    done = finish(Rendered("s", "<html><body><p>hi</p></body></html>", "hi"), LINKS)
    assert done.html.endswith(
        '<p><a href="https://s/u/t3">Unsubscribe</a></p>'
        '<img src="https://s/o/t2.gif" width="1" height="1" alt="" style="display:none"></body></html>'
    )
    assert done.text.endswith("Unsubscribe: https://s/u/t3\n")
    kept = finish(Rendered("s", '<a href="https://s/u/t3">stop</a>', "stop: https://s/u/t3"), LINKS)
    assert kept.html.count("https://s/u/t3") == 1 and kept.text == "stop: https://s/u/t3"
