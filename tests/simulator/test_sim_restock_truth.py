"""The ground truth of restocks on hand-made logs of what the simulator told the product and when: the cases
detection must get right (docs/architecture.md, "The timeline" and "Restock"), judged independently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulator.ground_truth import Rules
from simulator.instants import format_instant, parse_instant
from simulator.restock_truth import fired_restocks

START = datetime(2026, 11, 2, tzinfo=UTC)
WEB, WEB2, RETAIL, CLOSED = (f"gid://shopify/Location/{n}" for n in (1, 2, 3, 4))
SHIRT = "gid://shopify/ProductVariant/1"
ITEM = "gid://shopify/InventoryItem/1"


def minutes(value: float) -> datetime:
    return START + timedelta(minutes=value)


def hours(value: float) -> datetime:
    return START + timedelta(hours=value)


class Told:
    """A hand-made log of what the simulator told the product: webhooks delivered, rows served to polls."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        for location, active, online in ((WEB, True, True), (WEB2, True, True), (RETAIL, True, False),
                                         (CLOSED, False, True)):  # fmt: skip
            self.add(
                START,
                "served_location",
                location_id=location,
                is_active=active,
                fulfills_online_orders=online,
            )
        self.variant(START, "DENY")

    def add(self, at: datetime, kind: str, **fields) -> Told:
        self.events.append({"seq": len(self.events) + 1, "at": format_instant(at), "kind": kind, **fields})
        return self

    def variant(self, at: datetime, policy: str) -> Told:
        return self.add(
            at, "served_variant", variant_id=SHIRT, product_id="gid://shopify/Product/1",
            inventory_item_id=ITEM, tracked=True, inventory_policy=policy,
        )  # fmt: skip

    def webhook(
        self, at: datetime, available: int | None, location: str = WEB, delivered: datetime | None = None,
        topic: str = "inventory_levels/update", webhook_id: str | None = None,
    ) -> Told:  # fmt: skip
        """A change at `at` whose webhook reached the product at `delivered` (at once by default)."""
        return self.add(
            delivered or at, "webhook", topic=topic, webhook_id=webhook_id or f"w{len(self.events)}",
            status=200, inventory_item_id=ITEM, location_id=location, available=available,
            updated_at=None if topic.endswith("disconnect") else format_instant(at),
            triggered_at=format_instant(at),
        )  # fmt: skip

    def polled(
        self, at: datetime, available: int, updated_at: datetime, location: str = WEB, active=True
    ) -> Told:
        return self.add(
            at, "served_level", inventory_item_id=ITEM, location_id=location, available=available,
            updated_at=format_instant(updated_at), is_active=active,
        )  # fmt: skip

    def signup(self, at: datetime) -> Told:
        return self.add(at, "signup", email=f"s{len(self.events)}@example.com", variant_id=SHIRT, status=201)

    def restocks(self, as_of: datetime, **rules) -> list[tuple[datetime, datetime, str]]:
        signups = [(e["variant_id"], parse_instant(e["at"])) for e in self.events if e["kind"] == "signup"]
        found = fired_restocks(self.events, signups, as_of, Rules(**rules), parse_instant)
        return [(restock.restocked_at, restock.decided_at, restock.fired_by) for restock in found]


def test_stock_at_the_retail_store_or_an_inactive_location_never_restocks() -> None:
    told = Told().polled(START, 0, START).polled(START, 0, START, WEB2)
    told.webhook(hours(1), 5, RETAIL).webhook(hours(2), 5, CLOSED)
    assert told.restocks(hours(5)) == []
    told.webhook(hours(3), 2, WEB2)
    assert told.restocks(hours(5)) == [(hours(3), hours(3) + timedelta(minutes=5), "restock")]


def test_a_disconnected_level_stops_counting() -> None:
    told = Told().polled(START, 0, START).webhook(hours(1), 3, WEB2)
    told.webhook(hours(2), None, WEB2, topic="inventory_levels/disconnect")
    told.signup(hours(3)).webhook(hours(30), 2, WEB)
    # the disconnect sold it out: the return at the other location 28 h later is a restock
    assert [restock[0] for restock in told.restocks(hours(40))] == [hours(1), hours(30)]


def test_a_level_a_poll_finds_deactivated_stops_counting_from_that_poll() -> None:
    told = Told().polled(START, 3, START).polled(hours(6), 3, START, active=False)
    told.polled(hours(8), 2, hours(7), WEB2)
    assert told.restocks(hours(10), cooldown_hours=1) == [(hours(7), hours(8), "restock")]


def test_a_late_webhook_takes_effect_after_what_was_known_and_a_stale_one_changes_nothing() -> None:
    told = Told().polled(START, 0, START).polled(START, 0, START, WEB2)
    told.webhook(hours(1), 4)  # back at 1:00
    told.webhook(minutes(50), 3, WEB2, delivered=hours(1.5))  # 0:50 at the other location, learned at 1:30
    told.webhook(minutes(40), 1, delivered=hours(2))  # older than 1:00 at WEB: stale
    assert told.restocks(hours(3)) == [(hours(1), hours(1) + timedelta(minutes=5), "restock")]


def test_a_sale_learned_only_after_the_decision_does_not_undo_the_restock() -> None:
    """Back at 1:00; the 1:02 sale's webhook was lost and a poll found it at 6:00: at 1:05 nothing said it had
    sold out, so the restock was decided; what came later cannot undo it."""
    told = Told().polled(START, 0, START).webhook(hours(1), 1).polled(hours(6), 0, minutes(62))
    assert told.restocks(hours(7)) == [(hours(1), minutes(65), "restock")]
    known_in_time = Told().polled(START, 0, START).webhook(hours(1), 1).webhook(minutes(62), 0)
    assert known_in_time.restocks(hours(7)) == []


def test_a_restock_only_a_poll_saw_is_decided_when_polled() -> None:
    told = Told().polled(START, 0, START).polled(hours(6), 2, hours(1))
    assert told.restocks(hours(7)) == [(hours(1), hours(6), "restock")]


def test_a_redelivered_webhook_counts_once() -> None:
    told = Told().polled(START, 0, START).webhook(hours(1), 2, webhook_id="same")
    told.webhook(minutes(61), 0, webhook_id="x").webhook(
        hours(1), 2, delivered=minutes(63), webhook_id="same"
    )
    assert told.restocks(hours(5)) == []


def test_someone_waiting_through_a_cooldown_is_told_when_it_ends() -> None:
    told = Told().polled(START, 0, START).webhook(hours(1), 3).webhook(hours(4), 0)
    told.signup(hours(5)).webhook(hours(12), 2)  # back 11 h after the restock: inside the cooldown
    assert told.restocks(hours(30)) == [
        (hours(1), hours(1) + timedelta(minutes=5), "restock"),
        (hours(25), hours(25) + timedelta(minutes=5), "waiting_subscribers"),
    ]
    nobody = Told().polled(START, 0, START).webhook(hours(1), 3).webhook(hours(4), 0).webhook(hours(12), 2)
    assert len(nobody.restocks(hours(30))) == 1


def test_someone_signing_up_during_a_short_dip_is_told_when_it_is_back() -> None:
    told = Told().polled(START, 0, START).webhook(hours(1), 3)
    told.webhook(hours(30), 0).signup(hours(30) + timedelta(minutes=1)).webhook(
        hours(30) + timedelta(minutes=2), 3
    )
    back = hours(30) + timedelta(minutes=2)
    assert told.restocks(hours(31)) == [
        (hours(1), hours(1) + timedelta(minutes=5), "restock"),
        (back, back + timedelta(minutes=5), "waiting_subscribers"),
    ]


def test_a_switch_to_continue_and_back_is_learned_from_the_polls() -> None:
    """While CONTINUE (as the poll at 6:00 learned it) the variant cannot restock; back to DENY at 12:00
    with no stock, the 14:00 delivery is a restock (out of stock before CONTINUE, in after)."""
    told = (
        Told().polled(START, 0, START).variant(hours(6), "CONTINUE").webhook(hours(8), 5).webhook(hours(9), 0)
    )
    told.variant(hours(12), "DENY").webhook(hours(14), 4)
    assert told.restocks(hours(20)) == [(hours(14), hours(14) + timedelta(minutes=5), "restock")]
