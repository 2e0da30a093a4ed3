"""The world: simulated time, the queue of what happens when, and playing it against the product.

Time moves only in `advance(to)`: every queued event with time <= `to` is played at its own instant, in
order (ties in the order they were queued). Whatever an event or an incoming email sets off is queued
strictly later than the instant that caused it, so a driver stepping to `next_event_at` never misses one.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from simulator.catalog import RETAIL_LOCATION, build_store
from simulator.checkout import Aftermath, aftermath, buyer_profile, cart, checkout, shipping_fee
from simulator.cost import LeakyBucket
from simulator.delivery import Delivery
from simulator.delivery import plan as plan_deliveries
from simulator.event_log import EventLog
from simulator.gids import gid, gid_number, inventory_level_gid
from simulator.instants import format_instant, next_whole_second
from simulator.providers import Event, Incoming, ProviderHub, SendGridFront
from simulator.providers import Reply as ProviderReply
from simulator.resolvers import AdminGraph
from simulator.scenario import (
    SCENARIOS,
    Disturbance,
    Visit,
    plan_disturbances,
    plan_test_orders,
    plan_visits,
)
from simulator.schema import admin_schema
from simulator.shopify_api import ShopifyApi
from simulator.shoppers import (
    Shopper,
    confirm_delay,
    confirm_link_in,
    links_in,
    make_shoppers,
    react_to_alert,
    rng_for,
)
from simulator.store import CONTINUE, DENY, Checkout, Level, LevelChange, Order, Variant
from simulator.storefront import Reply, Storefront
from simulator.webhooks import (
    APP_UNINSTALLED,
    INVENTORY_LEVELS_DISCONNECT,
    INVENTORY_LEVELS_UPDATE,
    disconnect_payload,
    encode,
    headers,
    inventory_level_payload,
    shop_payload,
)

API_VERSION = "2026-10"


@dataclass(frozen=True)
class WorldConfig:
    seed: int
    start: datetime
    days: float
    scenario: str
    storefront_url: str
    shop_domain: str
    access_token: str
    webhook_secret: str
    sendgrid_key: str
    bucket_size: float = 1000.0
    restore_rate: float = 100.0
    provider_events_url: str | None = None  # where the fake SendGrid posts its Event Webhook

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass(order=True)
class Scheduled:
    at: datetime
    seq: int
    play: Callable[[], Awaitable[None]] = field(compare=False)


class World:
    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self.scenario = SCENARIOS[config.scenario]
        self.now = config.start
        self.log = EventLog()
        self.store = build_store(
            self.scenario.products, rng_for(config.seed, "catalog"), config.start, config.shop_domain
        )
        self.api = ShopifyApi(
            admin_schema(),
            AdminGraph(self.store, served=self._served),
            LeakyBucket(config.bucket_size, config.restore_rate),
            config.access_token,
        )
        self.providers = ProviderHub(
            clock=lambda: self.now, schedule=self._schedule_event, on_reply=self._on_provider_reply
        )
        self.provider = self.providers.add(SendGridFront(config.sendgrid_key, config.provider_events_url))
        self.shoppers = make_shoppers(self.scenario.shoppers, rng_for(config.seed, "shoppers"))
        self.shopper_by_email = {shopper.email: shopper for shopper in self.shoppers}
        self.buyers = {
            shopper.email: buyer_profile(
                rng_for(config.seed, "buyer", shopper.number), shopper.number, shopper.email
            )
            for shopper in self.shoppers
        }
        self.storefront: Storefront | None = None  # bound to an HTTP client by the app while it serves
        self.advancing = asyncio.Lock()
        self._queue: list[Scheduled] = []
        self._queued = 0
        self._restock_pending: set[int] = set()
        self._restocks_planned: dict[int, int] = {}
        self._subscribed: set[tuple[str, int]] = set()
        self._opted_out: set[str] = set()
        self._answered_jobs: set[str] = set()
        self._restocked_at: dict[int, datetime] = {}  # the last planned restock of each variant
        self._bought_at: dict[tuple[str, int], datetime] = {}  # (shopper email, variant id): last purchase
        # a waiting subscriber's own return after a restock: (shopper email, variant id) -> (restock, return)
        self._anyway: dict[tuple[str, int], tuple[datetime, datetime]] = {}
        self._landings: dict[str, str] = {}  # job id -> the page its click landed on
        self._click_jobs: dict[str, str] = {}  # landing page -> the job whose click led there
        self._awaiting_confirmation: set[tuple[str, str]] = set()
        self._signups_made: Counter[tuple[str, str]] = Counter()
        self._webhooks_sent = 0
        self._record_catalog()
        self._plan()

    # --- time -------------------------------------------------------------------------------------------

    @property
    def next_event_at(self) -> datetime | None:
        return self._queue[0].at if self._queue else None

    def schedule(self, at: datetime, play: Callable[[], Awaitable[None]]) -> None:
        if at <= self.now:
            raise ValueError(f"cannot schedule at {at}: the world is already at {self.now}")
        self._queued += 1
        heapq.heappush(self._queue, Scheduled(at, self._queued, play))

    async def advance(self, to: datetime) -> tuple[int, int]:
        """Play every event up to and including `to`; answers how many were played, and how many of them
        were due before `to`. A driver that moves the product's clock must step onto every event's instant
        (the product stamps what a shopper does with its own clock), so for it the second number must be 0."""
        async with self.advancing:
            if to < self.now:
                raise ValueError(f"time only moves forward: now is {format_instant(self.now)}")
            played = early = 0
            while self._queue and self._queue[0].at <= to:
                event = heapq.heappop(self._queue)
                self.now = event.at
                await event.play()
                played += 1
                early += event.at < to
            self.now = to
            return played, early

    def bind(self, http: httpx.Client) -> None:
        self.storefront = Storefront(self.config.storefront_url, self.config.shop_domain, http)

    # --- the plan ---------------------------------------------------------------------------------------

    def _record_catalog(self) -> None:
        shop = self.store.shop
        at = self.config.start
        self.log.record(
            at, "shop", shop=shop.domain, name=shop.name, currency_code=shop.currency, timezone=shop.timezone
        )
        for location in self.store.locations.values():
            self.log.record(
                at,
                "location",
                location_id=gid("Location", location.id),
                is_active=location.is_active,
                fulfills_online_orders=location.fulfills_online_orders,
            )
        for variant in self.store.variants.values():
            self.log.record(
                at,
                "variant",
                variant_id=gid("ProductVariant", variant.id),
                product_id=gid("Product", variant.product_id),
                inventory_item_id=gid("InventoryItem", variant.inventory_item_id),
                tracked=variant.tracked,
                inventory_policy=variant.inventory_policy,
                price=f"{variant.price:.2f}",
            )
        for level in self.store.levels.values():
            variant = self.store.variant_by_item[level.inventory_item_id]
            self._record_level(LevelChange(level, variant, level.available, "opening"))

    def _plan(self) -> None:
        config, shop = self.config, self.store.shop
        rng = rng_for(config.seed, "plan")
        variant_ids = sorted(self.store.variants)
        for visit in plan_visits(
            self.scenario, rng, config.start, config.end, shop.timezone, variant_ids, len(self.shoppers)
        ):
            self.schedule(visit.at, lambda visit=visit: self._visit(visit))
        for disturbance in plan_disturbances(self.scenario, rng, config.start, config.end, shop.timezone):
            self.schedule(disturbance.at, lambda d=disturbance: self._disturb(d))
        for variant in self.store.variants.values():
            if variant.restockable and self.store.sellable(variant) == 0:
                self._plan_restock(variant)
        for at in plan_test_orders(self.scenario, rng, config.start, config.end, shop.timezone):
            self.schedule(at, self._test_order)

    # --- inventory --------------------------------------------------------------------------------------

    def _record_level(self, change: LevelChange) -> None:
        level = change.level
        self.log.record(
            level.updated_at,
            "inventory",
            variant_id=gid("ProductVariant", change.variant.id),
            inventory_item_id=gid("InventoryItem", level.inventory_item_id),
            location_id=gid("Location", level.location_id),
            available=level.available,
            delta=change.delta,
            reason=change.reason,
        )

    def _served(self, kind: str, **fields: Any) -> None:
        """What a sync read handed the product (simulator/resolvers.py), logged at the instant it did."""
        self.log.record(self.now, kind, **fields)

    async def _publish(self, change: LevelChange, deliveries: list[Delivery] | None = None) -> None:
        """Log the change and send Shopify's `inventory_levels/update` webhook for it."""
        self._record_level(change)
        level = change.level
        payload = inventory_level_payload(
            level.id,
            level.location_id,
            level.inventory_item_id,
            level.available,
            level.updated_at,
            self.store.shop.timezone,
        )
        await self._send_webhook(
            INVENTORY_LEVELS_UPDATE, payload, level, updated_at=level.updated_at, deliveries=deliveries
        )

    async def _send_webhook(
        self,
        topic: str,
        payload: dict[str, Any],
        level: Level,
        updated_at=None,
        deliveries: list[Delivery] | None = None,
    ) -> None:
        """Send a webhook the way Shopify delivers them (simulator/delivery.py): at once, late, twice, or
        never (unless `deliveries` says how); every delivery, and every webhook never delivered, is logged."""
        self._webhooks_sent += 1
        number = self._webhooks_sent
        ids = rng_for(self.config.seed, "webhook", number)
        webhook_id, event_id = (str(uuid.UUID(int=ids.getrandbits(128), version=4)) for _ in range(2))
        about = {
            "topic": topic,
            "event_id": event_id,
            "inventory_level_id": inventory_level_gid(level.id, level.inventory_item_id),
            "inventory_item_id": gid("InventoryItem", level.inventory_item_id),
            "location_id": gid("Location", level.location_id),
            "available": payload.get("available"),
            "updated_at": None if updated_at is None else format_instant(updated_at),
            "triggered_at": format_instant(self.now),
        }
        if deliveries is None:
            deliveries = plan_deliveries(
                self.scenario.webhook_faults, rng_for(self.config.seed, "delivery", number)
            )
        if not deliveries:
            self.log.record(self.now, "webhook_lost", webhook_id=webhook_id, **about)
        triggered_at, body = self.now, encode(payload)
        for attempt, delivery in enumerate(deliveries):
            if delivery.new_webhook_id:
                webhook_id = str(uuid.UUID(int=ids.getrandbits(128), version=4))

            async def deliver(webhook_id: str = webhook_id, attempt: int = attempt) -> None:
                await self._deliver(body, webhook_id, triggered_at, attempt, about)

            if delivery.delay_seconds == 0:
                await deliver()
            else:
                self.schedule(
                    next_whole_second(self.now) + timedelta(seconds=delivery.delay_seconds), deliver
                )

    async def _deliver(
        self, body: bytes, webhook_id: str, triggered_at: datetime, attempt: int, about: dict[str, Any]
    ) -> None:
        signed = headers(
            body,
            topic=about["topic"],
            secret=self.config.webhook_secret,
            shop_domain=self.config.shop_domain,
            webhook_id=webhook_id,
            event_id=about["event_id"],
            api_version=API_VERSION,
            triggered_at=triggered_at,
        )
        reply = await self._storefront().deliver_webhook(body, signed)
        self.log.record(
            self.now,
            "webhook",
            webhook_id=webhook_id,
            attempt=attempt,
            status=reply.status,
            **about,
            **_error(reply),
        )

    async def set_installed(self, installed: bool) -> datetime:
        """The merchant uninstalls the app (`POST /_sim/app`): Shopify revokes its token at once and sends
        `app/uninstalled`, delivered once, now; or installs it again: the Admin API answers again (a real
        reinstall grants a new token; the simulator keeps the configured one). Answers the instant."""
        if installed == self.api.installed:
            return self.now
        self.api.installed = installed
        self.log.record(self.now, "app_installed" if installed else "app_uninstalled")
        if not installed:
            self._webhooks_sent += 1
            ids = rng_for(self.config.seed, "webhook", self._webhooks_sent)
            webhook_id, event_id = (str(uuid.UUID(int=ids.getrandbits(128), version=4)) for _ in range(2))
            body = encode(shop_payload(self.store.shop))
            signed = headers(
                body,
                topic=APP_UNINSTALLED,
                secret=self.config.webhook_secret,
                shop_domain=self.config.shop_domain,
                webhook_id=webhook_id,
                event_id=event_id,
                api_version=API_VERSION,
                triggered_at=self.now,
            )
            reply = await self._storefront().deliver_webhook(body, signed)
            self.log.record(
                self.now, "app_webhook", topic=APP_UNINSTALLED, webhook_id=webhook_id, status=reply.status
            )
        return self.now

    async def set_online_stock(self, variant_id: int, units: int, webhooks: bool) -> datetime:
        """A benchmark's hand on the stock (`POST /_sim/stock`): `units` at the variant's first online
        location and none at the others (0 sells it out), now; each change's webhook delivered once at
        once, or never (only a poll can see it). Answers the instant of the change."""
        variant = self.store.variants[variant_id]
        for position, level in enumerate(self.store.online_levels(variant)):
            delta = (units if position == 0 else 0) - level.available
            if delta == 0:
                continue
            change = self.store.adjust(level.location_id, variant.inventory_item_id, delta, self.now, "bench")
            await self._publish(change, deliveries=[Delivery(0, False)] if webhooks else [])
        return self.now

    async def _adjust(self, location_id: int, variant: Variant, delta: int, reason: str) -> None:
        await self._publish(
            self.store.adjust(location_id, variant.inventory_item_id, delta, self.now, reason)
        )

    def _plan_restock(self, variant: Variant) -> None:
        """A sold-out variant usually gets new stock at one location some hours later."""
        if variant.id in self._restock_pending:
            return
        count = self._restocks_planned.get(variant.id, 0)
        self._restocks_planned[variant.id] = count + 1
        rng = rng_for(self.config.seed, "restock", variant.id, count)
        if rng.random() >= self.scenario.restock_chance:
            return
        low, high = self.scenario.restock_delay_hours
        at = next_whole_second(self.now) + timedelta(seconds=int(rng.uniform(low, high) * 3600))
        location_id = rng.choice(self._online_location_ids())
        units = rng.randint(*self.scenario.restock_units)
        self._restock_pending.add(variant.id)

        async def restock() -> None:
            self._restock_pending.discard(variant.id)
            await self._adjust(location_id, variant, units, "restock")
            self._plan_anyway_returns(variant)

        self.schedule(at, restock)

    def _online_location_ids(self) -> list[int]:
        return [
            location.id
            for location in self.store.locations.values()
            if location.is_active and location.fulfills_online_orders
        ]

    async def _disturb(self, disturbance: Disturbance) -> None:
        """What the shop does to its inventory besides selling and restocking: a flap (+1, then -1 later) on
        a sold-out variant, a transfer that empties its only online location, units arriving at the retail
        store, a level deactivated, a policy switched to CONTINUE and back, a product archived."""
        restockable = [v for v in self.store.variants.values() if v.restockable and self.store.on_sale(v)]
        sold_out = [v for v in restockable if self.store.sellable(v) == 0]
        single = [v for v in restockable if len(self._stocked_locations(v)) == 1]
        later = self.now + timedelta(seconds=disturbance.gap_seconds)

        def pick(candidates: list[Variant]) -> Variant | None:
            return candidates[int(disturbance.roll * len(candidates))] if candidates else None

        kind = disturbance.kind
        if kind == "flap" and (variant := pick(sold_out)):
            location_id = self._online_location_ids()[0]
            await self._adjust(location_id, variant, +1, "count_correction")
            self.schedule(later, lambda: self._adjust(location_id, variant, -1, "count_correction"))
        elif kind == "transfer" and (variant := pick(single)):
            (source,) = self._stocked_locations(variant)
            target = next(lid for lid in self._online_location_ids() if lid != source)
            units = self.store.levels[(source, variant.inventory_item_id)].available
            await self._adjust(source, variant, -units, "transfer_out")
            self.schedule(later, lambda: self._adjust(target, variant, units, "transfer_in"))
        elif kind == "retail_restock" and (variant := pick(sold_out)):
            await self._adjust(RETAIL_LOCATION, variant, 4, "retail_delivery")
        elif kind == "deactivation" and (variant := pick(single)):
            await self._deactivate(variant, *self._stocked_locations(variant))
        elif kind == "policy_switch" and (variant := pick(restockable)):
            self._switch_policy(variant, CONTINUE)
            self.schedule(later, lambda: self._switch_back(variant))
        elif kind == "archive":
            product = self.store.products[
                sorted(self.store.products)[int(disturbance.roll * len(self.store.products))]
            ]
            product.status, product.updated_at = "ARCHIVED", self.now
            self.log.record(
                self.now, "product_status", product_id=gid("Product", product.id), status="ARCHIVED"
            )

    async def _deactivate(self, variant: Variant, location_id: int) -> None:
        """The item is no longer stocked at the location: its units there cannot be sold. Shopify sends
        inventory_levels/disconnect; the level's updated_at stays, so only a full read sees it inactive."""
        level = self.store.levels[(location_id, variant.inventory_item_id)]
        level.is_active = False
        self.log.record(
            self.now,
            "level_deactivated",
            variant_id=gid("ProductVariant", variant.id),
            inventory_item_id=gid("InventoryItem", level.inventory_item_id),
            location_id=gid("Location", location_id),
        )
        await self._send_webhook(
            INVENTORY_LEVELS_DISCONNECT, disconnect_payload(location_id, level.inventory_item_id), level
        )
        if self.store.sellable(variant) == 0:
            self._plan_restock(variant)

    def _switch_policy(self, variant: Variant, policy: str) -> None:
        variant.inventory_policy, variant.updated_at = policy, self.now
        self.log.record(
            self.now, "variant_policy", variant_id=gid("ProductVariant", variant.id), inventory_policy=policy
        )

    async def _switch_back(self, variant: Variant) -> None:
        self._switch_policy(variant, DENY)
        if self.store.sellable(variant) == 0:
            self._plan_restock(variant)

    def _stocked_locations(self, variant: Variant) -> list[int]:
        return [lv.location_id for lv in self.store.online_levels(variant) if lv.available > 0]

    # --- shoppers ---------------------------------------------------------------------------------------

    async def _visit(self, visit: Visit) -> None:
        shopper = self.shoppers[visit.shopper]
        variant = self.store.variants[visit.variant_id]
        if not self.store.on_sale(variant):
            return  # an archived product's page is gone
        await self._view(shopper, variant)
        if self.store.can_sell(variant):
            if visit.buy_roll < self.scenario.buy_chance:
                quantity = (
                    visit.quantity
                    if not variant.restockable
                    else min(visit.quantity, self.store.sellable(variant))
                )
                await self._buy(shopper, variant, quantity, cause="organic")
        elif (
            visit.signup_roll < self.scenario.signup_chance
            # Someone who opted out rarely signs up again (then only their confirmation lifts the opt-out).
            and (
                shopper.email not in self._opted_out or visit.signup_roll < self.scenario.signup_chance * 0.3
            )
            and (shopper.email, variant.id) not in self._subscribed
        ):
            await self._sign_up(shopper, variant)

    async def _view(self, shopper: Shopper, variant: Variant) -> None:
        variant_gid = gid("ProductVariant", variant.id)
        reply = await self._storefront().view(
            shopper.ip, shopper.client_id, variant_gid, gid("Product", variant.product_id)
        )
        self.log.record(
            self.now,
            "view",
            client_id=shopper.client_id,
            email=shopper.email,
            variant_id=variant_gid,
            status=reply.status,
            **_error(reply),
        )

    async def _sign_up(self, shopper: Shopper, variant: Variant) -> None:
        variant_gid = gid("ProductVariant", variant.id)
        product = self.store.products[variant.product_id]
        source_url = (
            f"{self.config.storefront_url.rstrip('/')}/products/{product.handle}?variant={variant.id}"
        )
        reply = await self._storefront().subscribe(
            shopper.ip, shopper.email, shopper.client_id, variant_gid, source_url
        )
        self.log.record(
            self.now,
            "signup",
            email=shopper.email,
            client_id=shopper.client_id,
            variant_id=variant_gid,
            status=reply.status,
            answer=reply.body,
            **_error(reply),
        )
        if reply.status is not None and 200 <= reply.status < 300:
            self._subscribed.add((shopper.email, variant.id))
            self._signups_made[(shopper.email, variant_gid)] += 1
            self._awaiting_confirmation.add((shopper.email, variant_gid))

    async def _buy(
        self,
        shopper: Shopper,
        variant: Variant,
        quantity: int,
        cause: str,
        job_id: str | None = None,
        landing_page: str | None = None,
    ) -> None:
        """Check out the variant (and whatever else goes in the cart); plan what happens to the order."""
        rng = rng_for(self.config.seed, "checkout", shopper.email, self.now.isoformat())
        lines = cart(rng, self.store, variant, quantity)
        spec = checkout(
            rng, self.config.seed, self.buyers[shopper.email], self.now, landing_page, job_id is not None
        )
        order, changes = self.store.place_order(spec, lines, self.now, shipping_fee(self.store, lines))
        for line_variant, _ in lines:
            self._bought_at[(shopper.email, line_variant.id)] = self.now
        self._record_order(order, cause, shopper, job_id, landing_page)
        for change in changes:
            await self._publish(change)
        for line_variant, _ in lines:
            if line_variant.restockable and self.store.sellable(line_variant) == 0:
                self._plan_restock(line_variant)
        self._plan_aftermath(order, aftermath(rng_for(self.config.seed, "aftermath", order.id), order))

    def _record_order(
        self, order: Order, cause: str, shopper: Shopper | None, job_id: str | None, landing_page: str | None
    ) -> None:
        """The order as the shop recorded it, with amounts in shop currency as Shopify reports them, and
        what only the simulator knows: why it was placed, and whose alert's click it carries."""
        spec = order.checkout
        anyway_at = self._anyway_return(shopper, order.lines[0].variant_id) if job_id else None
        self.log.record(
            self.now,
            "order",
            order_id=gid("Order", order.id),
            name=order.name,
            email=order.email,
            customer_email=spec.customer.email if spec.customer else None,
            shopper=shopper.email if shopper else None,
            test=spec.test,
            currency_code=order.shop_currency,
            presentment_currency_code=order.presentment_currency,
            rate=str(spec.rate),
            total=f"{order.shop_money(order.total):.2f}",
            shipping=f"{order.shop_money(order.shipping):.2f}",
            lines=[
                {
                    "line_item_id": gid("LineItem", line.id),
                    "variant_id": gid("ProductVariant", line.variant_id),
                    "product_id": gid("Product", line.product_id),
                    "quantity": line.quantity,
                    "net": f"{order.line_shop_net(line):.2f}",
                }
                for line in order.lines
            ],
            cause=cause,
            job_id=job_id,
            carried_click=self._carried_click(landing_page),
            cart_attribute=bool(spec.custom_attributes),
            journey_ready=spec.journey_ready,
            anyway_at=format_instant(anyway_at) if anyway_at else None,
        )

    def _anyway_return(self, shopper: Shopper | None, variant_id: int) -> datetime | None:
        """When the shopper would have come back for the variant on their own after its last restock."""
        plan = self._anyway.get((shopper.email, variant_id)) if shopper else None
        return plan[1] if plan and plan[0] == self._restocked_at.get(variant_id) else None

    def _carried_click(self, landing_page: str | None) -> str | None:
        """The job whose click link the shopper followed to land on the page the order came from."""
        return self._click_jobs.get(landing_page) if landing_page else None

    def _plan_aftermath(self, order: Order, plan: Aftermath) -> None:
        if plan.cancel_at is not None:
            self.schedule(plan.cancel_at, lambda: self._cancel(order))
        elif plan.refund_at is not None:
            self.schedule(plan.refund_at, lambda: self._refund(order, plan))

    async def _cancel(self, order: Order) -> None:
        refund, changes = self.store.cancel(order, self.now)
        self._record_refund(order, refund, cancelled=True)
        for change in changes:
            await self._publish(change)

    async def _refund(self, order: Order, plan: Aftermath) -> None:
        if plan.whole:
            lines = [(line, order.remaining_quantity(line)) for line in order.lines]
        else:
            lines = [(order.lines[plan.line_index], 1)]
        lines = [(line, quantity) for line, quantity in lines if quantity > 0]
        if lines and order.cancelled_at is None:
            self._record_refund(order, self.store.refund(order, lines, self.now), cancelled=False)

    def _record_refund(self, order: Order, refund: Any, cancelled: bool) -> None:
        self.log.record(
            self.now,
            "cancel" if cancelled else "refund",
            order_id=gid("Order", order.id),
            refund_id=gid("Refund", refund.id),
            lines=[
                {
                    "line_item_id": gid("LineItem", line.line_item_id),
                    "quantity": line.quantity,
                    "amount": f"{order.shop_money(line.subtotal):.2f}",
                }
                for line in refund.lines
            ],
        )

    async def _test_order(self) -> None:
        """The merchant tries checkout with a test payment: an order that is no sale."""
        variant = next((v for v in self.store.variants.values() if not v.tracked), None)
        if variant is None:
            return
        order, _ = self.store.place_order(
            Checkout(email=self.store.shop.email, test=True), [(variant, 1)], self.now
        )
        self._record_order(order, "test", None, None, None)

    def _plan_anyway_returns(self, variant: Variant) -> None:
        """Some of the shoppers waiting for the variant would have bought it anyway: they come back on
        their own some hours after the restock, alert or not."""
        self._restocked_at[variant.id] = self.now
        for email, variant_id in sorted(self._subscribed):
            if variant_id != variant.id:
                continue
            rng = rng_for(self.config.seed, "anyway", email, variant.id, self.now.isoformat())
            if rng.random() >= self.scenario.anyway_chance:
                continue
            low, high = self.scenario.anyway_delay_hours
            at = next_whole_second(self.now) + timedelta(seconds=int(rng.uniform(low, high) * 3600))
            self._anyway[(email, variant.id)] = (self.now, at)
            shopper = self.shopper_by_email[email]
            self.schedule(
                at,
                lambda shopper=shopper, restocked=self.now: self._return_anyway(shopper, variant, restocked),
            )

    def _already_bought(self, shopper: Shopper, variant: Variant, since: datetime | None) -> bool:
        bought = self._bought_at.get((shopper.email, variant.id))
        return bought is not None and since is not None and bought >= since

    async def _return_anyway(self, shopper: Shopper, variant: Variant, restocked: datetime) -> None:
        await self._view(shopper, variant)
        if self._already_bought(shopper, variant, restocked):
            return
        if not self.store.can_sell(variant):
            self.log.record(
                self.now, "gave_up", email=shopper.email, variant_id=gid("ProductVariant", variant.id),
                reason="sold out",
            )  # fmt: skip
            return
        await self._buy(shopper, variant, 1, cause="anyway")

    # --- email ------------------------------------------------------------------------------------------

    def _on_provider_reply(self, provider: str, incoming: Incoming, reply: ProviderReply) -> None:
        """Log one call to a fake provider; a newly accepted alert sets its recipient's reaction."""
        body = incoming.json()
        view = message_view(provider, body)
        confirm_link = confirm_link_in(view)
        job_id = None if confirm_link else reply.job_id  # a double opt-in confirmation is no alert
        variant_id = view.get("variant_id")
        self.log.record(
            self.now,
            "send",
            provider=provider,
            job_id=job_id,
            email=reply.recipient,
            variant_id=variant_id,
            status=reply.status,
            accepted=reply.accepted,
            message_id=reply.message_id,
        )
        if reply.delivery is not None and confirm_link:
            self._confirmation_received(reply.recipient or "", variant_id, confirm_link)
        elif reply.delivery is not None and job_id is not None and job_id not in self._answered_jobs:
            self._answered_jobs.add(job_id)
            self._react(job_id, reply.recipient or "", variant_id, view)

    def _schedule_event(self, event: Event) -> None:
        self.schedule(event.at, lambda: self._post_event(event))

    async def _post_event(self, event: Event) -> None:
        """A provider's event webhook reaches the product's storefront."""
        reply = await self._storefront().post_raw(event.url, event.body, event.headers)
        self.log.record(
            self.now,
            "provider_event",
            job_id=event.job_id,
            event=event.kind,
            status=reply.status,
            **_error(reply),
        )

    def _confirmation_received(self, email: str, variant_gid: str | None, link: str) -> None:
        """A double opt-in message: the shopper clicks its link later, or never. Only the first message for a
        signup counts (a resend changes nothing); one for a signup the shopper never made is ignored. A
        provider that carries no variant id leaves the shopper's oldest signup waiting for one."""
        email = email.lower()
        waiting = sorted(key for key in self._awaiting_confirmation if key[0] == email)
        key = (email, variant_gid) if variant_gid else (waiting[0] if waiting else (email, ""))
        shopper = self.shopper_by_email.get(email)
        if shopper is None or key not in self._awaiting_confirmation:
            return
        variant_gid = key[1]
        self._awaiting_confirmation.discard(key)
        delay = confirm_delay(rng_for(self.config.seed, "confirm", *key, self._signups_made[key]))
        if delay is not None:
            at = next_whole_second(self.now) + delay
            self.schedule(at, lambda: self._confirm(shopper, variant_gid, link))

    async def _confirm(self, shopper: Shopper, variant_gid: str, url: str) -> None:
        reply = await self._storefront().confirm(shopper.ip, url)
        self.log.record(
            self.now,
            "confirm",
            email=shopper.email,
            variant_id=variant_gid,
            status=reply.status,
            **_error(reply),
        )

    def _react(self, job_id: str, email: str, variant_gid: Any, message: dict[str, Any]) -> None:
        shopper = self.shopper_by_email.get(email)
        if shopper is None:
            return
        variant = self.store.variants.get(gid_number(variant_gid, "ProductVariant"))
        if variant is not None:
            self._subscribed.discard((email, variant.id))  # answered: a later sell-out may bring a new signup
        links = links_in(message)
        reaction = react_to_alert(rng_for(self.config.seed, "mail", job_id, email), self.now)
        if reaction.open_at and links.open_pixel:
            self.schedule(reaction.open_at, lambda: self._touch("open", job_id, shopper, links.open_pixel))
        if reaction.click_at and links.click:
            self.schedule(reaction.click_at, lambda: self._click(job_id, shopper, variant, links.click))
        if reaction.buy_at and links.click and variant is not None:
            self.schedule(reaction.buy_at, lambda: self._buy_notified(job_id, shopper, variant))
        if reaction.unsubscribe_at and links.unsubscribe:
            self.schedule(reaction.unsubscribe_at, lambda: self._unsubscribe(shopper, links.unsubscribe))

    async def _touch(self, kind: str, job_id: str, shopper: Shopper, url: str) -> Reply:
        reply = await self._storefront().fetch(shopper.ip, url)
        self.log.record(
            self.now,
            kind,
            job_id=job_id,
            email=shopper.email,
            status=reply.status,
            location=reply.location,
            **_error(reply),
        )
        return reply

    async def _click(self, job_id: str, shopper: Shopper, variant: Variant | None, url: str) -> None:
        """The click, then the product page it lands on fires the pixel's product_viewed."""
        reply = await self._touch("click", job_id, shopper, url)
        if reply.status == 302 and reply.location:
            self._landings[job_id] = reply.location
            self._click_jobs[reply.location] = job_id
        if reply.status == 302 and variant is not None:
            await self._view(shopper, variant)

    async def _buy_notified(self, job_id: str, shopper: Shopper, variant: Variant) -> None:
        if self._already_bought(shopper, variant, self._restocked_at.get(variant.id)):
            self.log.record(
                self.now, "already_bought", job_id=job_id, email=shopper.email,
                variant_id=gid("ProductVariant", variant.id),
            )  # fmt: skip
            return
        if not self.store.can_sell(variant):
            self.log.record(
                self.now,
                "gave_up",
                job_id=job_id,
                email=shopper.email,
                variant_id=gid("ProductVariant", variant.id),
                reason="sold out",
            )
            return
        landing_page = self._landings.get(job_id)
        await self._buy(shopper, variant, 1, cause="notification", job_id=job_id, landing_page=landing_page)

    async def _unsubscribe(self, shopper: Shopper, url: str) -> None:
        email = shopper.email
        reply = await self._storefront().unsubscribe(shopper.ip, url)
        self.log.record(
            self.now,
            "unsubscribe",
            email=email,
            path=urlsplit(url).path,
            status=reply.status,
            **_error(reply),
        )
        if reply.status == 200:
            self._opted_out.add(email)
            self._subscribed = {(who, variant) for who, variant in self._subscribed if who != email}

    def _storefront(self) -> Storefront:
        if self.storefront is None:
            raise RuntimeError("the world is not bound to an HTTP client (serve it with simulator.app)")
        return self.storefront


def _error(reply: Reply) -> dict[str, str]:
    return {"error": reply.error} if reply.error else {}


def message_view(provider: str, body: Any) -> dict[str, Any]:
    """What a shopper's mail client shows of a message, whatever provider carried it: the HTML part and
    the headers (in SendGrid's shape, which `links_in` reads), and the variant the alert is about."""
    if not isinstance(body, dict):
        return {}
    if provider == "sendgrid":
        custom = body.get("custom_args") if isinstance(body.get("custom_args"), dict) else {}
        return {**body, "variant_id": custom.get("variant_id")}
    if provider == "postmark":
        html = body.get("HtmlBody")
        headers = {item.get("Name"): item.get("Value") for item in body.get("Headers") or []}
        variant = (body.get("Metadata") or {}).get("variant_id")
    elif provider == "ses":
        simple = (body.get("Content") or {}).get("Simple") or {}
        html = ((simple.get("Body") or {}).get("Html") or {}).get("Data")
        headers = {item.get("Name"): item.get("Value") for item in simple.get("Headers") or []}
        variant = None
    else:
        html, headers, variant = body.get("html"), body.get("headers") or {}, None
    content = [{"type": "text/html", "value": html or ""}]
    return {"content": content, "headers": headers, "variant_id": variant}
