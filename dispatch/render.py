"""Messages from templates people edit: sandboxed Jinja2, HTML autoescaped, a text part and a subject.

A template comes from the shop's row in the `templates` table when there is one, else from the files
shipped in `dispatch/templates/{channel}/{locale}/`; locales fall back `pt-BR` -> `pt` -> `en`, and at each
step the shop's row wins over the shipped file. Every link goes through the storefront: the product link is
the signed click redirect (which adds the UTM parameters), the open pixel and a visible unsubscribe link
are always present, and the headers carry RFC 8058 one-click unsubscribe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from backinstock import links as message_links
from backinstock.settings import Settings
from backinstock.store.jobs import Job
from backinstock.store.tables import templates
from dispatch.providers.base import EmailMessage

TEMPLATE_NAME = "back_in_stock"
FALLBACK_LOCALE = "en"
SHIPPED = Path(__file__).with_name("templates")
SAFE_LOCALE = re.compile(r"^[A-Za-z0-9-]+$")  # a locale is part of a file path here
CONTEXT_FIELDS = ("product_title", "variant_title", "price", "currency_code", "shop_name")
_ENVIRONMENTS = {
    True: SandboxedEnvironment(autoescape=True, undefined=StrictUndefined),
    False: SandboxedEnvironment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True),
}


class BrokenTemplate(TemplateError):
    """A template failed to render for a job; the message names the template, for whoever must fix it."""


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str
    text: str
    origin: str  # where it came from, for error messages and previews


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def locale_chain(locale: str) -> list[str]:
    """The locales to try, most specific first, ending with the fallback: `pt-BR` -> [pt-BR, pt, en]."""
    chain = [locale]
    if "-" in locale:
        chain.append(locale.split("-", 1)[0])
    chain.append(FALLBACK_LOCALE)
    return list(dict.fromkeys(chain))


def _stored(
    connection: sa.Connection, shop: str, name: str, channel: str, locale: str
) -> TemplateSource | None:
    row = connection.execute(
        sa.select(templates.c.subject, templates.c.body_html, templates.c.body_text).where(
            templates.c.shop == shop,
            templates.c.name == name,
            templates.c.channel == channel,
            templates.c.locale == locale,
        )
    ).first()
    if row is None:
        return None
    return TemplateSource(
        row.subject, row.body_html, row.body_text, f"templates table {shop}/{name}/{locale}"
    )


def _shipped(name: str, channel: str, locale: str) -> TemplateSource | None:
    folder = SHIPPED / channel / locale
    if not SAFE_LOCALE.match(locale) or not (folder / f"{name}.html").is_file():
        return None
    return TemplateSource(
        subject=(folder / f"{name}.subject.txt").read_text(),
        html=(folder / f"{name}.html").read_text(),
        text=(folder / f"{name}.txt").read_text(),
        origin=f"shipped {channel}/{locale}/{name}",
    )


def load_template(
    connection: sa.Connection, *, shop: str, name: str, channel: str, locale: str
) -> TemplateSource:
    for candidate in locale_chain(locale):
        source = _stored(connection, shop, name, channel, candidate) or _shipped(name, channel, candidate)
        if source is not None:
            return source
    raise LookupError(f"no {channel} template {name!r} for {locale!r} or {FALLBACK_LOCALE!r}")


@lru_cache(maxsize=256)
def _compile(source: str, autoescape: bool) -> Template:
    return _ENVIRONMENTS[autoescape].from_string(source)


def render(source: TemplateSource, variables: dict[str, Any]) -> Rendered:
    """Render the three parts; raises jinja2.TemplateError (syntax, undefined name, sandbox violation)."""
    subject = _compile(source.subject, False).render(variables)
    return Rendered(
        subject=" ".join(subject.split()),  # one header line, whatever the template or the titles hold
        html=_compile(source.html, True).render(variables),
        text=_compile(source.text, False).render(variables),
    )


@dataclass(frozen=True)
class Links:
    click: str
    open_pixel: str
    unsubscribe: str


def links(settings: Settings, job: Job) -> Links:
    return Links(
        click=message_links.click_url(settings, job.shop, job.id),
        open_pixel=message_links.open_pixel_url(settings, job.shop, job.id),
        unsubscribe=message_links.unsubscribe_url(settings, job.shop, job.subscription_id),
    )


def _insert_before_body_end(html: str, extra: str) -> str:
    end = html.lower().rfind("</body>")
    return html + extra if end < 0 else html[:end] + extra + html[end:]


def finish(rendered: Rendered, link: Links) -> Rendered:
    """Add what no template may leave out: the open pixel and a visible unsubscribe link."""
    footer = (
        ""
        if link.unsubscribe in rendered.html
        else f'<p><a href="{escape(link.unsubscribe)}">Unsubscribe</a></p>'
    )
    pixel = f'<img src="{escape(link.open_pixel)}" width="1" height="1" alt="" style="display:none">'
    text = (
        rendered.text
        if link.unsubscribe in rendered.text
        else f"{rendered.text}\n\nUnsubscribe: {link.unsubscribe}\n"
    )
    return Rendered(rendered.subject, _insert_before_body_end(rendered.html, footer + pixel), text)


def compose(connection: sa.Connection, settings: Settings, job: Job) -> EmailMessage:
    """The job's email, ready for a provider lane."""
    link = links(settings, job)
    variables = {field: job.context.get(field) for field in CONTEXT_FIELDS}
    variables |= {"product_url": link.click, "unsubscribe_url": link.unsubscribe, "locale": job.locale}
    source = load_template(
        connection, shop=job.shop, name=TEMPLATE_NAME, channel=job.channel, locale=job.locale
    )
    try:
        message = finish(render(source, variables), link)
    except TemplateError as error:
        raise BrokenTemplate(f"{source.origin}: {error}") from error
    return EmailMessage(
        to=job.contact,
        from_email=settings.email.from_email,
        from_name=settings.email.from_name,
        subject=message.subject,
        text=message.text,
        html=message.html,
        headers={
            "List-Unsubscribe": f"<{link.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        custom_args={"job_id": str(job.id), "shop": job.shop, "variant_id": job.variant_id},
    )
