"""Privacy: Shopify's mandatory webhooks acted on, and retention, in the operational store.

- `customers/data_request`: the person's data at the shop (alerts with their proof of consent, messages,
  opens and clicks, suppressions, provider events) is written as JSON on the request, for the merchant
  (`backinstock privacy export`).
- `customers/redact`: the person's contacts are replaced by a pseudonym everywhere in the store, their live
  alerts end, IP addresses and user agents are cleared, the webhooks that carried them are deleted. Rows are
  kept, so aggregate KPIs stay as they were: the pseudonym is the same wherever the contact was (the store,
  the warehouse's orders), so attribution by contact still finds the same orders.
- `shop/redact`: every row of the shop is deleted now; `app/uninstalled`: nothing more is sent for the shop
  (queued jobs are skipped, confirmations cancelled, dispatch checks it) and its data is erased
  `erase_after_uninstall_hours` later (`apply_retention`).
- Retention (`apply_retention`, every cycle): contacts of alerts that ended (unsubscribed or notified) more
  than `contact_retention_days` ago are pseudonymised; tracking events, the webhook inbox and data exports
  older than `events_retention_days` are deleted.

The ledger (`privacy_requests`) holds keyed digests of the contacts, never the contacts: the warehouse step
(`orchestration/defs/privacy`) re-applies every redaction from it each cycle, with the same digest and
pseudonym rules written in SQL there (`digest`, `pseudonym` here are their reference).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from backinstock.clock import format_instant
from backinstock.settings import Settings
from backinstock.store import tables as t
from backinstock.store.sql import insert_ignoring_conflicts
from backinstock.store.subscriptions import purge_expired_pending

DATA_REQUEST = "customers/data_request"
CUSTOMER_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"
APP_UNINSTALLED = "app/uninstalled"
TOPICS = frozenset({DATA_REQUEST, CUSTOMER_REDACT, SHOP_REDACT, APP_UNINSTALLED})
INVENTORY_TOPIC_PREFIX = "inventory_levels/"
PHONE_LIKE = re.compile(r"[0-9+() .-]+")
REDACTED_DOMAIN = "@redacted.invalid"
REDACTED_PAYLOAD = '{"redacted": true}'
UNINSTALLED = "the shop uninstalled the app"


class BadPayload(ValueError):
    """The privacy webhook's JSON is not shaped as Shopify documents it."""


# --- digests and pseudonyms (the warehouse step computes the same in SQL) ------------------------------


def salt(settings: Settings) -> str:
    """The secret that keys contact digests (`Settings.privacy_digest_key`), never stored beside them."""
    return settings.privacy_digest_key


def is_phone(value: str) -> bool:
    return PHONE_LIKE.fullmatch(value) is not None


def normalised(value: str) -> str:
    """A contact as it is compared: a phone as + and digits, anything else trimmed and lower-cased."""
    return re.sub(r"[^0-9+]", "", value) if is_phone(value) else value.strip().lower()


def digest(secret: str, shop: str, value: str) -> str:
    return hashlib.sha256(f"{secret}|{shop}|{normalised(value)}".encode()).hexdigest()


def pseudonym(secret: str, shop: str, value: str) -> str:
    """What replaces a redacted contact: derived from its digest, shaped like what it replaces (so the
    models' normalisation leaves it as it is), and unroutable (`.invalid`, country code 999)."""
    hexdigest = digest(secret, shop, value)
    if is_phone(value):
        return "+999" + hexdigest[:12].translate(str.maketrans("abcdef", "012345"))
    return "redacted-" + hexdigest[:20] + REDACTED_DOMAIN


# --- the webhooks ----------------------------------------------------------------------------------------


def receive(
    connection: sa.Connection,
    settings: Settings,
    *,
    shop: str,
    topic: str,
    webhook_id: str,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Act on a verified privacy webhook once (a redelivery does nothing); returns what was done, without
    personal data. Raises BadPayload before anything is written when the payload is not Shopify's shape."""
    if topic == APP_UNINSTALLED:
        return uninstall(connection, settings, shop=shop, now=now)
    contacts, order_ids, request_id = _parse(topic, payload)
    secret = salt(settings)
    row = {
        "shop": shop,
        "topic": topic,
        "webhook_id": webhook_id,
        "shopify_request_id": request_id,
        "received_at": now,
        "contact_digests": sorted({digest(secret, shop, contact) for contact in contacts}),
        "order_ids": order_ids,
    }
    if not insert_ignoring_conflicts(connection, t.privacy_requests, [row], ("webhook_id",)):
        return {"duplicate": True}
    update: dict[str, Any] = {"completed_at": now}
    if topic == DATA_REQUEST:
        update["export"] = export(connection, shop=shop, contacts=contacts, now=now)
        update["summary"] = {
            name: len(rows) for name, rows in update["export"].items() if isinstance(rows, list)
        }
    elif topic == CUSTOMER_REDACT:
        update["summary"] = redact_customer(
            connection, secret, shop=shop, contacts=contacts, orders=order_ids, now=now
        )
    else:
        update["summary"] = erase_shop(connection, shop=shop, now=now)
    connection.execute(
        sa.update(t.privacy_requests).where(t.privacy_requests.c.webhook_id == webhook_id).values(**update)
    )
    return update["summary"]


def _parse(topic: str, payload: dict[str, Any]) -> tuple[list[str], list[str], str | None]:
    """(contacts, order gids, Shopify's data request id) from a privacy webhook's payload."""
    if not isinstance(payload, dict):
        raise BadPayload("not a JSON object")
    if topic == SHOP_REDACT:
        return [], [], None
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise BadPayload("customer is missing")
    contacts = []
    for field in ("email", "phone"):
        value = customer.get(field)
        if value is not None and not isinstance(value, str):
            raise BadPayload(f"customer.{field} is not a string")
        if value and value.strip():
            contacts.append(value.strip())
    orders = payload.get("orders_requested" if topic == DATA_REQUEST else "orders_to_redact") or []
    if not isinstance(orders, list) or not all(isinstance(o, int | str) and str(o).isdigit() for o in orders):
        raise BadPayload("order ids are not a list of numbers")
    request = payload.get("data_request")
    request_id = (
        str(request.get("id")) if isinstance(request, dict) and request.get("id") is not None else None
    )
    return contacts, [f"gid://shopify/Order/{order}" for order in orders], request_id


def _contacts_match(column: sa.ColumnElement[str], contacts: Iterable[str]) -> sa.ColumnElement[bool]:
    return column.in_({normalised(contact) for contact in contacts} | {c.strip() for c in contacts})


def export(connection: sa.Connection, *, shop: str, contacts: list[str], now: datetime) -> dict[str, Any]:
    """Everything the store holds about these contacts at the shop, as JSON-ready values."""
    subs = (
        connection.execute(
            sa.select(t.subscriptions).where(
                t.subscriptions.c.shop == shop, _contacts_match(t.subscriptions.c.contact, contacts)
            )
        )
        .mappings()
        .all()
    )
    sub_ids = [row["id"] for row in subs]
    job_rows = (
        connection.execute(
            sa.select(t.notification_jobs).where(t.notification_jobs.c.subscription_id.in_(sub_ids))
        )
        .mappings()
        .all()
        if sub_ids
        else []
    )
    job_ids = [row["id"] for row in job_rows]
    events = (
        connection.execute(sa.select(t.tracking_events).where(t.tracking_events.c.job_id.in_(job_ids)))
        .mappings()
        .all()
        if job_ids
        else []
    )
    suppressed = (
        connection.execute(
            sa.select(t.suppressions).where(
                t.suppressions.c.shop == shop, _contacts_match(t.suppressions.c.contact, contacts)
            )
        )
        .mappings()
        .all()
    )
    delivery = (
        connection.execute(
            sa.select(t.provider_events).where(
                sa.or_(
                    t.provider_events.c.job_id.in_(job_ids),
                    _contacts_match(t.provider_events.c.recipient, contacts),
                )
            )
        )
        .mappings()
        .all()
    )
    return {
        "shop": shop,
        "exported_at": format_instant(now),
        "subscriptions": [_jsonable(row, exclude=("shop",)) for row in subs],
        "notifications": [
            _jsonable(
                row,
                keep=(
                    "id",
                    "subscription_id",
                    "variant_id",
                    "channel",
                    "contact",
                    "status",
                    "created_at",
                    "sent_at",
                ),
            )
            for row in job_rows
        ],
        "opens_and_clicks": [
            _jsonable(row, keep=("job_id", "event_type", "occurred_at", "url", "user_agent"))
            for row in events
        ],
        "suppressions": [
            _jsonable(row, keep=("channel", "contact", "reason", "source", "created_at"))
            for row in suppressed
        ],
        "delivery_events": [
            _jsonable(row, keep=("job_id", "provider", "event_type", "recipient", "occurred_at", "detail"))
            for row in delivery
        ],
    }


def _jsonable(row: Any, *, keep: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    names = keep or [name for name in row if name not in exclude]
    return {
        name: format_instant(row[name]) if isinstance(row[name], datetime) else row[name] for name in names
    }


def redact_customer(
    connection: sa.Connection,
    secret: str,
    *,
    shop: str,
    contacts: list[str],
    orders: list[str],
    now: datetime,
) -> dict[str, int]:
    """Replace the contacts by their pseudonyms in every table that holds them; end their live alerts;
    clear what identifies the person's devices; delete the webhooks that carried their data."""
    summary: dict[str, int] = {}
    subs = t.subscriptions
    sub_ids = list(
        connection.execute(
            sa.select(subs.c.id).where(subs.c.shop == shop, _contacts_match(subs.c.contact, contacts))
        ).scalars()
    )
    summary["subscriptions_ended"] = (
        connection.execute(
            sa.update(subs)
            .where(subs.c.id.in_(sub_ids), subs.c.status.in_(("pending", "active")))
            .values(status="unsubscribed", unsubscribed_at=now, updated_at=now)
        ).rowcount
        if sub_ids
        else 0
    )
    if sub_ids:
        connection.execute(
            sa.update(subs)
            .where(subs.c.id.in_(sub_ids))
            .values(consent_ip=None, consent_user_agent=None, confirmed_ip=None, confirmed_user_agent=None)
        )
    job_ids = (
        list(
            connection.execute(
                sa.select(t.notification_jobs.c.id).where(t.notification_jobs.c.subscription_id.in_(sub_ids))
            ).scalars()
        )
        if sub_ids
        else []
    )
    shop_jobs = sa.select(t.notification_jobs.c.id).where(t.notification_jobs.c.shop == shop)
    for contact in contacts:
        replacement = pseudonym(secret, shop, contact)
        for table in (t.subscriptions, t.notification_jobs, t.outbox_messages, t.suppressions):
            changed = connection.execute(
                sa.update(table)
                .where(table.c.shop == shop, _contacts_match(table.c.contact, [contact]))
                .values(contact=replacement)
            ).rowcount
            summary[table.name] = summary.get(table.name, 0) + changed
        summary["provider_events"] = (
            summary.get("provider_events", 0)
            + connection.execute(
                sa.update(t.provider_events)
                .where(
                    _contacts_match(t.provider_events.c.recipient, [contact]),
                    sa.or_(t.provider_events.c.job_id.is_(None), t.provider_events.c.job_id.in_(shop_jobs)),
                )
                .values(recipient=replacement, payload=REDACTED_PAYLOAD)
            ).rowcount
        )
    if job_ids:  # the providers' raw payloads about the person's messages
        connection.execute(
            sa.update(t.provider_events)
            .where(t.provider_events.c.job_id.in_(job_ids))
            .values(payload=REDACTED_PAYLOAD)
        )
    if sub_ids:
        connection.execute(
            sa.update(t.outbox_messages)
            .where(t.outbox_messages.c.subscription_id.in_(sub_ids), t.outbox_messages.c.status == "pending")
            .values(status="cancelled", last_error="customer redacted", updated_at=now)
        )
    if job_ids:
        summary["tracking_events"] = connection.execute(
            sa.update(t.tracking_events)
            .where(t.tracking_events.c.job_id.in_(job_ids))
            .values(user_agent=None)
        ).rowcount
    summary["webhook_inbox_deleted"] = _delete_webhooks_about(connection, shop, contacts, orders)
    return summary


def _delete_webhooks_about(
    connection: sa.Connection, shop: str, contacts: list[str], orders: list[str]
) -> int:
    """Delete the shop's stored webhooks (other than inventory) whose body names a contact or an order."""
    needles = (
        [contact.strip().lower() for contact in contacts]
        + [f'"{gid}"' for gid in orders]
        + [f": {gid.rsplit('/', 1)[1]}," for gid in orders]
    )
    inbox = t.webhook_inbox
    rows = connection.execute(
        sa.select(inbox.c.id, inbox.c.payload).where(
            inbox.c.shop == shop, ~inbox.c.topic.startswith(INVENTORY_TOPIC_PREFIX)
        )
    )
    doomed = [row.id for row in rows if any(needle in row.payload.lower() for needle in needles)]
    if doomed:
        connection.execute(sa.delete(inbox).where(inbox.c.id.in_(doomed)))
    return len(doomed)


def erase_shop(connection: sa.Connection, *, shop: str, now: datetime) -> dict[str, int]:
    """Delete every row of the shop (children before parents); the privacy ledger and the audit log stay."""
    jobs = sa.select(t.notification_jobs.c.id).where(t.notification_jobs.c.shop == shop).scalar_subquery()
    summary = {
        "notification_attempts": connection.execute(
            sa.delete(t.notification_attempts).where(t.notification_attempts.c.job_id.in_(jobs))
        ).rowcount,
        "provider_events": connection.execute(
            sa.delete(t.provider_events).where(t.provider_events.c.job_id.in_(jobs))
        ).rowcount,
    }
    kept = {t.privacy_requests.name, t.shop_installations.name}
    for table in reversed(t.metadata.sorted_tables):
        if "shop" in table.c and table.name not in kept:
            summary[table.name] = connection.execute(sa.delete(table).where(table.c.shop == shop)).rowcount
    # Erased means uninstalled too (shop/redact may come without app/uninstalled): nothing is sent and no
    # signup taken until the shop installs the app again (`reinstall`).
    _installation(connection, shop, now, erased_at=now, erase_after=None)
    table = t.shop_installations
    connection.execute(
        sa.update(table)
        .where(table.c.shop == shop, table.c.uninstalled_at.is_(None))
        .values(uninstalled_at=now)
    )
    return {name: count for name, count in summary.items() if count}


def uninstall(connection: sa.Connection, settings: Settings, *, shop: str, now: datetime) -> dict[str, Any]:
    """Stop sending for the shop now; its data is erased when `erase_after` comes (`apply_retention`).
    `erased_at` stays: it says where an earlier installation's data ended (see `erasures`)."""
    table = t.shop_installations
    known = connection.execute(sa.select(table).where(table.c.shop == shop)).mappings().first()
    if known is not None and known["uninstalled_at"] is not None:
        return {"duplicate": True}  # a redelivery never postpones the erasure, nor undoes one
    erase_after = now + timedelta(hours=settings.privacy.erase_after_uninstall_hours)
    _installation(connection, shop, now, uninstalled_at=now, erase_after=erase_after)
    skipped = connection.execute(
        sa.update(t.notification_jobs)
        .where(
            t.notification_jobs.c.shop == shop,
            t.notification_jobs.c.status.in_(("pending", "retry_scheduled", "deferred")),
        )
        .values(status="skipped", last_error=UNINSTALLED, last_error_class="ineligible", updated_at=now)
    ).rowcount
    cancelled = connection.execute(
        sa.update(t.outbox_messages)
        .where(t.outbox_messages.c.shop == shop, t.outbox_messages.c.status == "pending")
        .values(status="cancelled", last_error=UNINSTALLED, updated_at=now)
    ).rowcount
    return {
        "jobs_skipped": skipped,
        "confirmations_cancelled": cancelled,
        "erase_after": format_instant(erase_after),
    }


def reinstall(connection: sa.Connection, *, shop: str, now: datetime) -> dict[str, int] | None:
    """The shop's token answers again after an uninstall: the merchant installed the app again. Sending
    and signups resume. Before the erasure, the erasure is called off and the jobs and confirmations the
    uninstall stopped go out again (send-time checks still decide each one). After it, the shop starts
    afresh: what was erased stays erased (the ingest empties the shop's warehouse rows before landing its
    first new read, and leaves out orders from before `erased_at`, which is kept). None when the shop was
    not uninstalled; else what was resumed."""
    table = t.shop_installations
    resumed = connection.execute(
        sa.update(table)
        .where(table.c.shop == shop, table.c.uninstalled_at.is_not(None))
        .values(uninstalled_at=None, erase_after=None, updated_at=now)
    ).rowcount
    if not resumed:
        return None
    jobs, box = t.notification_jobs.c, t.outbox_messages.c
    return {
        "jobs_resumed": connection.execute(
            sa.update(t.notification_jobs)
            .where(jobs.shop == shop, jobs.status == "skipped", jobs.last_error == UNINSTALLED)
            .values(
                status="pending",
                due_at=now,
                fence=jobs.fence + 1,
                last_error=None,
                last_error_class=None,
                updated_at=now,
            )
        ).rowcount,
        "confirmations_resumed": connection.execute(
            sa.update(t.outbox_messages)
            .where(box.shop == shop, box.status == "cancelled", box.last_error == UNINSTALLED)
            .values(status="pending", due_at=now, last_error=None, updated_at=now)
        ).rowcount,
    }


UNINSTALLED_STATE = "uninstalled"  # waiting for its erasure
ERASED_STATE = "erased"  # its data erased, not installed since
_ERASED = sa.and_(
    t.shop_installations.c.uninstalled_at.is_not(None),
    t.shop_installations.c.erase_after.is_(None),
    t.shop_installations.c.erased_at.is_not(None),
)


def installation_states(connection: sa.Connection, shops: Iterable[str]) -> dict[str, str]:
    """Of these shops, those not installed now: UNINSTALLED_STATE or ERASED_STATE."""
    table = t.shop_installations
    rows = connection.execute(
        sa.select(table.c.shop, _ERASED.label("erased")).where(
            table.c.shop.in_(set(shops)), table.c.uninstalled_at.is_not(None)
        )
    )
    return {shop: ERASED_STATE if erased else UNINSTALLED_STATE for shop, erased in rows}


def erasures(connection: sa.Connection, shops: Iterable[str]) -> dict[str, datetime]:
    """Of these shops, those whose data was erased, with when (the latest erasure): whatever the shop had
    up to then stays erased, even once it installed the app again."""
    table = t.shop_installations
    rows = connection.execute(
        sa.select(table.c.shop, table.c.erased_at).where(
            table.c.shop.in_(set(shops)), table.c.erased_at.is_not(None)
        )
    )
    return dict(rows.tuples().all())


def _installation(connection: sa.Connection, shop: str, now: datetime, **values: Any) -> None:
    table = t.shop_installations
    if connection.execute(
        sa.update(table).where(table.c.shop == shop).values(updated_at=now, **values)
    ).rowcount:
        return
    connection.execute(sa.insert(table).values(shop=shop, updated_at=now, **values))


# Built once: every dispatch batch asks it.
_UNINSTALLED = sa.select(t.shop_installations.c.shop).where(
    t.shop_installations.c.shop.in_(sa.bindparam("shops", expanding=True)),
    t.shop_installations.c.uninstalled_at.is_not(None),
)


def uninstalled_shops(connection: sa.Connection, shops: Iterable[str]) -> set[str]:
    """Of these shops, those that uninstalled the app (and did not install it again): nothing is sent for
    them, and their storefronts take no signups."""
    return set(connection.execute(_UNINSTALLED, {"shops": sorted(set(shops))}).scalars())


# --- retention ---------------------------------------------------------------------------------------------


def apply_retention(connection: sa.Connection, settings: Settings, now: datetime) -> dict[str, int]:
    """Erase uninstalled shops whose time has come, pseudonymise contacts of long-ended alerts, delete old
    tracking events, webhooks and exports, and purge expired pending signups. Returns counts."""

    policy, secret = settings.privacy, salt(settings)
    summary: dict[str, int] = {"expired_pending_purged": purge_expired_pending(connection, now)}
    due = (
        connection.execute(
            sa.select(t.shop_installations.c.shop).where(t.shop_installations.c.erase_after <= now)
        )
        .scalars()
        .all()
    )
    for shop in due:
        erase_shop(connection, shop=shop, now=now)
    summary["shops_erased"] = len(due)
    summary["contacts_anonymised"] = _anonymise_ended(
        connection, secret, now - timedelta(days=policy.contact_retention_days)
    )
    events_before = now - timedelta(days=policy.events_retention_days)
    summary["tracking_events_deleted"] = connection.execute(
        sa.delete(t.tracking_events).where(t.tracking_events.c.occurred_at < events_before)
    ).rowcount
    summary["webhooks_deleted"] = connection.execute(
        sa.delete(t.webhook_inbox).where(t.webhook_inbox.c.received_at < events_before)
    ).rowcount
    summary["exports_deleted"] = connection.execute(
        sa.update(t.privacy_requests)
        .where(t.privacy_requests.c.received_at < events_before, t.privacy_requests.c.export.is_not(None))
        .values(export=None)
    ).rowcount
    return summary


def _anonymise_ended(connection: sa.Connection, secret: str, before: datetime) -> int:
    """Pseudonymise the contact of alerts that ended before `before` (their jobs too), clearing IPs and
    user agents. Suppressions keep the contact: they exist to honour an opt-out."""
    subs = t.subscriptions
    ended = sa.func.coalesce(subs.c.unsubscribed_at, subs.c.notified_at, subs.c.updated_at)
    rows = connection.execute(
        sa.select(subs.c.id, subs.c.shop, subs.c.contact).where(
            subs.c.status.in_(("unsubscribed", "notified")),
            ended < before,
            ~subs.c.contact.endswith(REDACTED_DOMAIN),
            ~subs.c.contact.startswith("+999"),
        )
    ).all()
    for row in rows:
        replacement = pseudonym(secret, row.shop, row.contact)
        connection.execute(
            sa.update(subs)
            .where(subs.c.id == row.id)
            .values(
                contact=replacement,
                consent_ip=None,
                consent_user_agent=None,
                confirmed_ip=None,
                confirmed_user_agent=None,
            )
        )
        connection.execute(
            sa.update(t.notification_jobs)
            .where(t.notification_jobs.c.subscription_id == row.id)
            .values(contact=replacement)
        )
    return len(rows)


# --- what the warehouse step reads -------------------------------------------------------------------------


def ledger(connection: sa.Connection) -> dict[str, Any]:
    """Every redaction to re-apply in the warehouse: per shop, contact digests and order ids; and the shops
    whose data is erased (and who have not installed the app since: a new installation's data is kept).
    A customer redaction from before its shop's erasure is left out: the erasure covered it, and it must
    not touch what the shop's new installation collects."""
    redactions: dict[str, dict[str, set[str]]] = {}
    requests, installations = t.privacy_requests, t.shop_installations
    for row in connection.execute(
        sa.select(requests.c.shop, requests.c.contact_digests, requests.c.order_ids)
        .outerjoin(installations, installations.c.shop == requests.c.shop)
        .where(
            requests.c.topic == CUSTOMER_REDACT,
            requests.c.completed_at.is_not(None),
            sa.or_(installations.c.erased_at.is_(None), requests.c.received_at > installations.c.erased_at),
        )
    ):
        entry = redactions.setdefault(row.shop, {"digests": set(), "order_ids": set()})
        entry["digests"].update(row.contact_digests or [])
        entry["order_ids"].update(row.order_ids or [])
    erased = set(connection.execute(sa.select(installations.c.shop).where(_ERASED)).scalars())
    return {"redactions": redactions, "erased_shops": erased}


def exports(connection: sa.Connection, shop: str | None = None) -> list[dict[str, Any]]:
    """Data requests with their exports, newest first, for the merchant."""
    requests = t.privacy_requests
    query = sa.select(requests).where(requests.c.topic == DATA_REQUEST).order_by(requests.c.id.desc())
    if shop:
        query = query.where(requests.c.shop == shop)
    return [dict(row) for row in connection.execute(query).mappings()]


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
