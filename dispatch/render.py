"""A job's message for its lane: the template (the shop's published version or the shipped one, by channel
and locale) rendered on the job's frozen context, with the links only the product can make: the signed
click redirect, open pixel and unsubscribe link through the storefront, RFC 8058 one-click headers, our ids
for the provider's events, the idempotency key, and Twilio's status callback.

Rendering the same template on the same context gives the same message but for its links, so a batch of
one restock renders and finishes (the closing of open elements, the footer) once: the links are rendered as
markers and put in per job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

from backinstock import links as message_links
from backinstock import templates
from backinstock.provider_webhooks import events_url
from backinstock.settings import LaneSettings, Settings
from backinstock.store.jobs import Job
from dispatch.providers import Message

CONTEXT_FIELDS = ("product_title", "variant_title", "price", "currency_code", "shop_name")
# Stand-ins for the per-job links while rendering: letters only, so escaping leaves them as they are.
CLICK_MARK, UNSUBSCRIBE_MARK, OPEN_MARK = (
    "bisClickLinkMarkQz",
    "bisUnsubscribeLinkMarkQz",
    "bisOpenLinkMarkQz",
)
MARK_TAIL = "linkmarkqz"


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


def variables(job: Job) -> dict[str, Any]:
    values = {name: job.context.get(name) for name in CONTEXT_FIELDS}
    return values | {"product_url": CLICK_MARK, "unsubscribe_url": UNSUBSCRIBE_MARK, "locale": job.locale}


def _finished(channel: str, rendered: templates.Rendered, link: Links) -> templates.Rendered:
    """What every message of the channel carries whatever the template does (see `templates.finish_*`)."""
    if channel == templates.SMS:
        return templates.Rendered(rendered.subject, rendered.html, templates.finish_sms(rendered.text))
    return templates.finish_email(rendered, unsubscribe_url=link.unsubscribe, open_pixel_url=link.open_pixel)


MARKS = Links(click=CLICK_MARK, open_pixel=OPEN_MARK, unsubscribe=UNSUBSCRIBE_MARK)


@lru_cache(maxsize=1024)
def _marked(
    source: templates.TemplateSource, channel: str, frozen: tuple[tuple[str, Any], ...]
) -> templates.Rendered:
    return _finished(channel, templates.render(source, dict(frozen)), MARKS)


def _linked(text: str, link: Links, quote: Any = str) -> str:
    return (
        text.replace(CLICK_MARK, quote(link.click))
        .replace(UNSUBSCRIBE_MARK, quote(link.unsubscribe))
        .replace(OPEN_MARK, quote(link.open_pixel))
    )


def idempotency_key(job: Job) -> str:
    return f"backinstock-job-{job.id}"


def _render(source: templates.TemplateSource, job: Job, link: Links) -> templates.Rendered:
    marked = _marked(source, job.channel, tuple(sorted(variables(job).items())))
    linked = templates.Rendered(
        _linked(marked.subject, link), _linked(marked.html, link, escape), _linked(marked.text, link)
    )
    if MARK_TAIL in f"{linked.subject}{linked.html}{linked.text}".lower():
        # The template did something to a link other than print it: render this job with its real links.
        real = variables(job) | {"product_url": link.click, "unsubscribe_url": link.unsubscribe}
        return _finished(job.channel, templates.render(source, real), link)
    return linked


def compose(settings: Settings, lane: LaneSettings, job: Job, source: templates.TemplateSource) -> Message:
    """The job's message; raises `templates.TemplateFailure` naming the template."""
    link = links(settings, job)
    rendered = _render(source, job, link)
    tags = {"job_id": str(job.id), "shop": job.shop, "variant_id": job.variant_id}
    if job.channel == templates.SMS:
        return Message(
            job_id=job.id,
            channel=job.channel,
            to=job.contact,
            text=rendered.text,
            tags=tags,
            idempotency_key=idempotency_key(job),
            status_callback=f"{events_url(settings.storefront_url, settings.signing_key, lane.name)}"
            f"?job_id={job.id}",
        )
    return Message(
        job_id=job.id,
        channel=job.channel,
        to=job.contact,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        from_email=lane.from_email or settings.email.from_email,
        from_name=lane.from_name or settings.email.from_name,
        headers={
            "List-Unsubscribe": f"<{link.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        tags=tags,
        idempotency_key=idempotency_key(job),
    )
