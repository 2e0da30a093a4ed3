"""Message templates people edit: rendered safely, validated when saved, versioned, published, previewed.

The spine owns this so the console can validate and preview without the delivery engine; dispatch composes
provider messages from `render_email` / `render_sms`.

- Sandboxed Jinja2, HTML autoescaped, undefined names are errors.
- A render budget: loops, calls and string building are metered while rendering (time, output size), so a
  template cannot hang the dispatcher or fill its memory; the budget's limits are checked before the
  allocation, not after.
- Every exception while rendering is a `TemplateFailure` naming the template (and the part): the job is
  not retried with a broken message, a person fixes the template and replays.
- What no template can leave out or hide: the email's unsubscribe link is placed after every element of
  the template (its unclosed tags closed first), with inline styles that stylesheets cannot override; the
  SMS says how to opt out.
- A template is chosen per shop, channel and locale, falling back `pt-BR` -> `pt` -> `en`; at each step
  the shop's published version wins over the one shipped in `backinstock/message_templates/`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import StrictUndefined, Template, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

from backinstock import sms
from backinstock.store import audit
from backinstock.store.tables import template_versions, templates

EMAIL = "email"
SMS = "sms"
CHANNELS = (EMAIL, SMS)
TEMPLATE_NAME = "back_in_stock"
FALLBACK_LOCALE = "en"
SHIPPED = Path(__file__).with_name("message_templates")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # locales and names are parts of file paths here
VARIABLES = (
    "product_title",
    "variant_title",
    "price",
    "currency_code",
    "shop_name",
    "product_url",
    "unsubscribe_url",
    "locale",
)
MAX_SOURCE_CHARS = 100_000
MAX_SMS_CHARS = 1_600  # Twilio's limit for one message body


@dataclass(frozen=True)
class Budget:
    """What one render may spend: wall time, characters produced, loop iterations."""

    seconds: float = 0.25
    output_chars: int = 256_000
    iterations: int = 200_000


DEFAULT_BUDGET = Budget()


class TemplateFailure(Exception):
    """A template could not be rendered; the message names the template (and part) to fix."""

    def __init__(self, origin: str, problem: str) -> None:
        super().__init__(f"{origin}: {problem}")
        self.origin = origin
        self.problem = problem


class BudgetExceeded(SecurityError):
    """A render went over its budget."""


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str
    text: str
    origin: str  # where it came from: for error messages, previews and the attempt's record
    version: int | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


# --- the metered sandbox -------------------------------------------------------------------------------

_meter = threading.local()
# A width or precision of five digits or more, in %-formatting or in a str.format field.
WIDE_FORMAT = re.compile(r"%[-+ #0]*(\d{5,}|\*)|%[-+ #0]*\d*\.\d{5,}|\{[^{}]*:[^{}]*\d{5,}[^{}]*\}")


class _Meter:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.deadline = time.perf_counter() + budget.seconds
        self.iterations = 0

    def tick(self, iterations: int = 1) -> None:
        self.iterations += iterations
        if self.iterations > self.budget.iterations:
            raise BudgetExceeded(f"more than {self.budget.iterations} loop iterations")
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded(f"rendering took longer than {self.budget.seconds:g} s")

    def size(self, value: Any) -> Any:
        if isinstance(value, str | list | tuple | dict) and len(value) > self.budget.output_chars:
            raise BudgetExceeded(f"a value of more than {self.budget.output_chars} characters")
        return value

    def number(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > self.budget.output_chars:
            raise BudgetExceeded(f"a size argument of {value}")

    @staticmethod
    def format_string(value: Any) -> None:
        if isinstance(value, str) and WIDE_FORMAT.search(value):
            raise BudgetExceeded("a format width or precision over 9999")


def _active() -> _Meter:
    meter = getattr(_meter, "current", None)
    if meter is None:  # rendering outside `_metered` (never done here): meter with the default budget
        meter = _meter.current = _Meter(DEFAULT_BUDGET)
    return meter


class _Metered(NodeTransformer):
    """Every loop iterates through `budget_iter` and every `~` concatenation goes through `budget_str`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        metered = nodes.Call(nodes.EnvironmentAttribute("budget_iter"), [node.iter], [], None, None)
        node.iter = metered.set_lineno(node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        metered = nodes.Call(nodes.EnvironmentAttribute("budget_str"), [node], [], None, None)
        return metered.set_lineno(node.lineno)


class _BudgetNamespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _active().size(value))


def _guarded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        meter = _active()
        for value in (*args, *kwargs.values()):
            meter.number(value)
            meter.format_string(value)
        meter.tick()
        return meter.size(function(*args, **kwargs))

    for attribute in ("jinja_pass_arg",):  # keep @pass_context / @pass_eval_context / @pass_environment
        if hasattr(function, attribute):
            setattr(guarded, attribute, getattr(function, attribute))
    return guarded


class MeteredSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True)
        self.filters = {name: _guarded_filter(function) for name, function in self.filters.items()}
        self.globals["namespace"] = _BudgetNamespace

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _Metered().visit(super()._parse(source, name, filename))

    def budget_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        meter = _active()
        for item in iterable:
            meter.tick()
            yield item

    def budget_str(self, value: Any) -> Any:
        return _active().size(value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = _active()
        meter.tick()
        for value in (*args, *kwargs.values()):
            meter.number(value)
        if getattr(__obj, "__name__", "") in ("format", "format_map"):  # the sandbox wraps str.format
            meter.format_string(getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None))
        return meter.size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        meter = _active()
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise BudgetExceeded(f"an exponent of {right}")
        if operator == "*":
            for one, other in ((left, right), (right, left)):
                repeated = isinstance(one, str | list | tuple) and isinstance(other, int)
                if repeated and len(one) * other > meter.budget.output_chars:
                    raise BudgetExceeded(f"a repetition of {len(one) * other} characters")
        if operator == "%":
            meter.format_string(left)
        return meter.size(super().call_binop(context, operator, left, right))


_ENVIRONMENTS = {True: MeteredSandbox(autoescape=True), False: MeteredSandbox(autoescape=False)}


@lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool) -> Template:
    return _ENVIRONMENTS[autoescape].from_string(source)


def _render_part(source: str, autoescape: bool, variables: dict[str, Any], meter: _Meter) -> str:
    produced: list[str] = []
    size = 0
    for chunk in _compile(source, autoescape).generate(variables):
        size += len(chunk)
        if size > meter.budget.output_chars:
            raise BudgetExceeded(f"output longer than {meter.budget.output_chars} characters")
        meter.tick(0)
        produced.append(chunk)
    return "".join(produced)


def render(source: TemplateSource, variables: dict[str, Any], budget: Budget = DEFAULT_BUDGET) -> Rendered:
    """Render the subject, HTML and text parts within the budget; any failure is a `TemplateFailure`
    naming the template and the part."""
    rendered = {}
    for part, autoescape in (("subject", False), ("html", True), ("text", False)):
        _meter.current = meter = _Meter(budget)
        try:
            rendered[part] = _render_part(getattr(source, part), autoescape, variables, meter)
        except Exception as error:  # every failure is the template's: see the module docstring
            raise TemplateFailure(f"{source.origin} ({part})", _describe(error)) from error
        finally:
            _meter.current = None
    subject = " ".join(rendered["subject"].split())  # one header line, whatever the template holds
    return Rendered(subject=subject, html=rendered["html"], text=rendered["text"])


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:1000]


# --- what no template may leave out ---------------------------------------------------------------------

VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "basefont",
        "bgsound",
        "frame",
        "keygen",
    ]
)
NEVER_CLOSED = ("<plaintext", "<xmp")  # everything after them is text: nothing could follow visibly
FOOTER_STYLE = (
    "display:block !important;visibility:visible !important;opacity:1 !important;position:static !important;"
    "height:auto !important;max-height:none !important;overflow:visible !important;clip:auto !important;"
    "transform:none !important;filter:none !important;text-indent:0 !important;"
    "font-size:12px !important;line-height:18px !important;color:#555555 !important;"
    "background:#ffffff !important;margin:16px 0 0 0 !important;padding:8px 0 !important"
)
LINK_STYLE = (
    "display:inline !important;visibility:visible !important;opacity:1 !important;"
    "font-size:12px !important;color:#1a0dab !important;text-decoration:underline !important"
)


class _OpenElements(HTMLParser):
    """The elements a fragment leaves open, innermost last."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # `<div/>` opens a div in HTML

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass


def _closed(fragment: str) -> str:
    """The fragment with whatever it leaves open (a comment, raw text, elements) closed."""
    parser = _OpenElements()
    parser.feed(fragment)
    leftover = parser.rawdata
    closing = ""
    if leftover.lstrip().startswith("<!--"):
        closing += " -->"
    elif leftover.startswith("<"):
        closing += ">"  # an unterminated tag
    closing += "".join(f"</{tag}>" for tag in reversed(parser.stack) if tag not in ("html", "body", "head"))
    return fragment + closing


def finish_email(rendered: Rendered, *, unsubscribe_url: str, open_pixel_url: str | None) -> Rendered:
    """Add what no template may leave out: after every element of the template, a visible unsubscribe
    link (inline `!important` styles beat any stylesheet) and the open pixel; in the text part, the
    unsubscribe URL unless the text already shows it. Anything after `</body>` is dropped."""
    html = rendered.html
    if any(marker in html.lower() for marker in NEVER_CLOSED):
        raise TemplateFailure("html", "<plaintext> and <xmp> would swallow the unsubscribe link")
    end = html.lower().rfind("</body>")
    body, tail = (html, "") if end < 0 else (html[:end], "</body></html>")
    link = escape(unsubscribe_url)
    footer = (
        f'<div style="{FOOTER_STYLE}">You are receiving this because you asked for a back-in-stock alert. '
        f'<a href="{link}" style="{LINK_STYLE}">Unsubscribe</a></div>'
    )
    pixel = (
        ""
        if open_pixel_url is None
        else f'<img src="{escape(open_pixel_url)}" width="1" height="1" alt="" style="display:none">'
    )
    text = rendered.text
    if unsubscribe_url not in text:
        text = f"{text.rstrip()}\n\nUnsubscribe: {unsubscribe_url}\n"
    return Rendered(rendered.subject, _closed(body) + footer + pixel + tail, text)


OPT_OUT = re.compile(r"\bSTOP\b")


def finish_sms(text: str) -> str:
    """One line of text that says how to opt out (carriers require it; Twilio honours STOP itself)."""
    text = " ".join(text.split())
    return text if OPT_OUT.search(text) else f"{text} Reply STOP to opt out."


# --- choosing, saving, publishing -----------------------------------------------------------------------


def locale_chain(locale: str) -> list[str]:
    """The locales to try, most specific first, ending with the fallback: `pt-BR` -> [pt-BR, pt, en]."""
    chain = [locale]
    if "-" in locale:
        chain.append(locale.split("-", 1)[0])
    chain.append(FALLBACK_LOCALE)
    return list(dict.fromkeys(chain))


def _published(
    connection: sa.Connection, shop: str, name: str, channel: str, locale: str
) -> TemplateSource | None:
    table = templates.c
    row = connection.execute(
        sa.select(table.subject, table.body_html, table.body_text, table.version).where(
            table.shop == shop, table.name == name, table.channel == channel, table.locale == locale
        )
    ).first()
    if row is None:
        return None
    version = "" if row.version is None else f" v{row.version}"
    origin = f"template {shop}/{channel}/{locale}/{name}{version}"
    return TemplateSource(row.subject, row.body_html, row.body_text, origin, row.version)


@lru_cache(maxsize=64)
def shipped(name: str, channel: str, locale: str) -> TemplateSource | None:
    """The template shipped with the product, or None."""
    folder = SHIPPED / channel / locale
    if not (SAFE_NAME.match(locale) and SAFE_NAME.match(name) and (folder / f"{name}.txt").is_file()):
        return None

    def part(suffix: str) -> str:
        path = folder / f"{name}{suffix}"
        return path.read_text() if path.is_file() else ""

    return TemplateSource(
        subject=part(".subject.txt"),
        html=part(".html"),
        text=part(".txt"),
        origin=f"shipped {channel}/{locale}/{name}",
    )


def load(
    connection: sa.Connection, *, shop: str, channel: str, locale: str, name: str = TEMPLATE_NAME
) -> TemplateSource:
    """The template a message uses: the most specific locale that has one, the shop's published version
    before the shipped one."""
    for candidate in locale_chain(locale):
        source = _published(connection, shop, name, channel, candidate) or shipped(name, channel, candidate)
        if source is not None:
            return source
    raise TemplateFailure(f"{channel} template {name}", f"none for {locale!r} or {FALLBACK_LOCALE!r}")


SAMPLE = {
    "product_title": "Linen Shirt",
    "variant_title": "M / Blue",
    "price": "49.90",
    "currency_code": "EUR",
    "shop_name": "Demo Outfitters",
    "product_url": "https://alerts.example.com/c/sample-click-token",
    "unsubscribe_url": "https://alerts.example.com/u/sample-unsubscribe-token",
    "locale": "en",
}
LONG_SAMPLE = SAMPLE | {"product_title": "L" * 512, "variant_title": "V" * 512, "shop_name": "S" * 255}


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    segments: sms.Segments | None  # SMS only


def preview(source: TemplateSource, channel: str, variables: dict[str, Any] | None = None) -> Preview:
    """The message as a recipient would see it, on sample data (or `variables`), finished the way dispatch
    finishes it; raises `TemplateFailure`."""
    values = SAMPLE | (variables or {})
    rendered = render(source, values)
    if channel == SMS:
        text = finish_sms(rendered.text)
        return Preview("", "", text, sms.segments(text))
    done = finish_email(rendered, unsubscribe_url=values["unsubscribe_url"], open_pixel_url=None)
    return Preview(done.subject, done.html, done.text, None)


def validate(source: TemplateSource, channel: str) -> list[str]:
    """What is wrong with a template, in words for the person editing it; empty when it may be saved."""
    if channel not in CHANNELS:
        return [f"unknown channel {channel!r}"]
    problems = []
    parts = {"text": source.text} if channel == SMS else {"subject": source.subject, "html": source.html}
    parts["text"] = source.text
    for part, value in parts.items():
        if not value.strip():
            problems.append(f"{part}: empty")
        if len(value) > MAX_SOURCE_CHARS:
            problems.append(f"{part}: longer than {MAX_SOURCE_CHARS} characters")
    if problems:
        return problems
    for sample in (SAMPLE, LONG_SAMPLE):
        try:
            shown = preview(source, channel, sample)
        except TemplateFailure as failure:
            return [str(failure)]
        if channel == SMS and len(shown.text) > MAX_SMS_CHARS:
            return [
                f"text: the message is {len(shown.text)} characters; an SMS takes {MAX_SMS_CHARS} at most"
            ]
    if channel == EMAIL and any(marker in source.html.lower() for marker in NEVER_CLOSED):
        problems.append("html: <plaintext> and <xmp> are not allowed")
    return problems


class TemplateInvalid(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _key(shop: str, name: str, channel: str, locale: str) -> dict[str, str]:
    if not (SAFE_NAME.match(name) and SAFE_NAME.match(locale)) or channel not in CHANNELS:
        raise ValueError(f"not a template key: {channel}/{locale}/{name}")
    return {"shop": shop, "name": name, "channel": channel, "locale": locale}


def save_version(
    connection: sa.Connection,
    *,
    shop: str,
    channel: str,
    locale: str,
    subject: str,
    body_html: str,
    body_text: str,
    actor: str,
    now: datetime,
    name: str = TEMPLATE_NAME,
    note: str | None = None,
    source: str | None = None,
) -> int:
    """Validate and keep a new version (not yet sent to anyone: `publish` does that); returns its number.
    Raises `TemplateInvalid` with the problems."""
    key = _key(shop, name, channel, locale)
    candidate = TemplateSource(subject, body_html, body_text, f"draft {channel}/{locale}/{name}")
    problems = validate(candidate, channel)
    if problems:
        raise TemplateInvalid(problems)
    table = template_versions.c
    latest = connection.execute(
        sa.select(sa.func.max(table.version)).where(
            *(table[column] == value for column, value in key.items())
        )
    ).scalar()
    version = (latest or 0) + 1
    connection.execute(
        sa.insert(template_versions).values(
            **key,
            version=version,
            subject=subject,
            body_html=body_html,
            body_text=body_text,
            note=note,
            created_at=now,
            created_by=actor,
        )
    )
    audit.record(
        connection,
        actor=actor,
        action="template.save",
        target_type="template",
        target_id=f"{shop}/{channel}/{locale}/{name}",
        now=now,
        after={"version": version},
        reason=note,
        source=source,
    )
    return version


def versions(
    connection: sa.Connection, *, shop: str, channel: str, locale: str, name: str = TEMPLATE_NAME
) -> list[dict[str, Any]]:
    key = _key(shop, name, channel, locale)
    table = template_versions.c
    rows = connection.execute(
        sa.select(template_versions)
        .where(*(table[column] == value for column, value in key.items()))
        .order_by(table.version.desc())
    )
    return [dict(row._mapping) for row in rows]


def publish(
    connection: sa.Connection,
    *,
    shop: str,
    channel: str,
    locale: str,
    version: int,
    actor: str,
    now: datetime,
    name: str = TEMPLATE_NAME,
    reason: str | None = None,
    source: str | None = None,
) -> None:
    """Make a saved version the one dispatch sends from now on (re-validated first); audited."""
    key = _key(shop, name, channel, locale)
    table = template_versions.c
    row = connection.execute(
        sa.select(template_versions).where(
            *(table[column] == value for column, value in key.items()), table.version == version
        )
    ).first()
    if row is None:
        raise LookupError(f"no version {version} of {channel}/{locale}/{name} for {shop}")
    problems = validate(TemplateSource(row.subject, row.body_html, row.body_text, "publish"), channel)
    if problems:
        raise TemplateInvalid(problems)
    current = templates.c
    before = connection.execute(
        sa.select(current.version).where(*(current[column] == value for column, value in key.items()))
    ).first()
    content = {
        "subject": row.subject,
        "body_html": row.body_html,
        "body_text": row.body_text,
        "version": version,
        "updated_at": now,
        "updated_by": actor,
    }
    if before is None:
        connection.execute(sa.insert(templates).values(**key, **content))
    else:
        connection.execute(
            sa.update(templates)
            .where(*(current[column] == value for column, value in key.items()))
            .values(**content)
        )
    connection.execute(
        sa.update(template_versions).where(table.id == row.id).values(published_at=now, published_by=actor)
    )
    audit.record(
        connection,
        actor=actor,
        action="template.publish",
        target_type="template",
        target_id=f"{shop}/{channel}/{locale}/{name}",
        now=now,
        before={"version": None if before is None else before.version},
        after={"version": version},
        reason=reason,
        source=source,
    )
