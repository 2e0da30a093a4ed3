"""The ground-truth rules on hand-made event logs: each edge of the contract's rules, one test each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulator.ground_truth import Rules, Touch, ground_truth, last_touch, restock_instants, sellable_history
from simulator.instants import format_instant

START = datetime(2026, 11, 2, tzinfo=UTC)
A, B = "gid://shopify/Location/1", "gid://shopify/Location/2"
SHIRT, SCARF, CARD = (
    "gid://shopify/ProductVariant/1",
    "gid://shopify/ProductVariant/2",
    "gid://shopify/ProductVariant/3",
)


def minutes(value: float) -> datetime:
    return START + timedelta(minutes=value)


def hours(value: float) -> datetime:
    return START + timedelta(hours=value)


class Log:
    """A hand-made event log in the simulator's shape, built in time order."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.add(START, "shop", shop="s.myshopify.com", currency_code="EUR", timezone="Europe/Berlin")
        for variant, tracked, policy in (
            (SHIRT, True, "DENY"),
            (SCARF, True, "CONTINUE"),
            (CARD, False, "DENY"),
        ):
            self.add(
                START, "variant", variant_id=variant, inventory_item_id=f"item-{variant}", tracked=tracked,
                inventory_policy=policy,
            )  # fmt: skip

    def add(self, at: datetime, kind: str, **fields) -> Log:
        self.events.append({"seq": len(self.events) + 1, "at": format_instant(at), "kind": kind, **fields})
        return self

    def stock(self, at: datetime, available: int, location: str = A, variant: str = SHIRT) -> Log:
        return self.add(
            at, "inventory", variant_id=variant, inventory_item_id=f"item-{variant}", location_id=location,
            available=available,
        )  # fmt: skip

    def signup(self, at: datetime, subscription_id: int, email: str, status: int = 201) -> Log:
        return self.add(
            at, "signup", email=email, variant_id=SHIRT, status=status, subscription_id=subscription_id
        )

    def send(self, at: datetime, job_id: str, email: str, status: int = 202) -> Log:
        return self.add(at, "send", job_id=job_id, email=email, variant_id=SHIRT, status=status)

    def touch(self, at: datetime, kind: str, job_id: str, email: str) -> Log:
        return self.add(at, kind, job_id=job_id, email=email, status=302 if kind == "click" else 200)

    def order(self, at: datetime, order_id: str, email: str, total: str, cause: str = "organic") -> Log:
        return self.add(at, "order", order_id=order_id, email=email, total=total, cause=cause)

    def truth(self, as_of: datetime, **rules) -> dict:
        return ground_truth(self.events, as_of, Rules(**rules))

    def restocks(self, as_of: datetime, **rules) -> list[str]:
        return [restock["restocked_at"] for restock in self.truth(as_of, **rules)["restocks"]]


def iso(moment: datetime) -> str:
    return format_instant(moment)


def test_sellable_counts_each_locations_latest_value_never_below_zero() -> None:
    history = sellable_history(
        [(minutes(0), A, 2), (minutes(0), B, 1), (minutes(1), A, -3), (minutes(2), B, 4)]
    )
    assert history == [(minutes(0), 3), (minutes(1), 1), (minutes(2), 4)]


def test_a_flap_inside_the_debounce_is_no_restock() -> None:
    log = Log().stock(START, 0).stock(minutes(60), 1).stock(minutes(62), 0)
    assert log.restocks(hours(5)) == []


def test_a_segment_of_exactly_the_debounce_counts_and_a_second_less_does_not() -> None:
    held = Log().stock(START, 0).stock(minutes(60), 1).stock(minutes(65), 0)
    assert held.restocks(hours(5)) == [iso(minutes(60))]
    brief = Log().stock(START, 0).stock(minutes(60), 1).stock(minutes(65) - timedelta(seconds=1), 0)
    assert brief.restocks(hours(5)) == []


def test_a_transfer_dip_shorter_than_the_debounce_is_no_sell_out() -> None:
    dip = Log().stock(START, 3, A).stock(START, 0, B).stock(minutes(60), 0, A).stock(minutes(62), 3, B)
    assert dip.restocks(hours(5)) == []
    long_gap = Log().stock(START, 3, A).stock(START, 0, B).stock(minutes(60), 0, A).stock(minutes(66), 3, B)
    assert long_gap.restocks(hours(5)) == [iso(minutes(66))]


def test_dropped_noise_merges_neighbours_so_the_restock_is_the_first_in_segments_start() -> None:
    log = Log().stock(START, 0).stock(minutes(60), 2).stock(minutes(70), 0).stock(minutes(72), 2)
    assert log.restocks(hours(5)) == [iso(minutes(60))]


def test_the_last_segment_is_measured_to_as_of_so_a_young_change_is_pending() -> None:
    log = Log().stock(START, 0).stock(minutes(60), 1)
    assert log.restocks(minutes(64)) == []
    assert log.restocks(minutes(65)) == [iso(minutes(60))]
    assert log.restocks(minutes(59)) == []  # changes after as_of are not known yet


def test_cooldown_is_sequential_and_its_bound_inclusive() -> None:
    def restock_at(log: Log, hour: float) -> Log:
        return log.stock(hours(hour), 3).stock(hours(hour + 1), 0)

    log = Log().stock(START, 0)
    for hour in (1, 21, 31, 55):  # 21 is 20 h after 1: suppressed; 31 fires (30 h after 1, not after 21)
        restock_at(log, hour)
    assert log.restocks(hours(80)) == [iso(hours(1)), iso(hours(31)), iso(hours(55))]
    assert log.restocks(hours(80), cooldown_hours=30) == [
        iso(hours(1)),
        iso(hours(31)),
    ]  # 31 - 1 == 30: fires


def test_restock_instants_pure_function_with_a_threshold() -> None:
    history = [(minutes(0), 0), (minutes(10), 1), (minutes(30), 2)]
    assert restock_instants(history, hours(1), Rules(threshold=2)) == [minutes(30)]
    assert restock_instants([], hours(1), Rules()) == []


def test_only_tracked_deny_variants_can_be_restocked() -> None:
    log = Log()
    for variant in (SCARF, CARD):
        log.stock(START, 0, variant=variant).stock(minutes(60), 5, variant=variant)
    assert log.restocks(hours(5)) == []


def test_targets_first_restock_at_or_after_signup_unless_unsubscribed_by_then() -> None:
    log = Log().stock(START, 0)
    log.signup(minutes(10), 1, "before@example.com")
    log.signup(minutes(15), 2, "quitter@example.com")
    log.add(minutes(20), "unsubscribe", email="quitter@example.com", status=200)
    log.signup(minutes(25), 3, "late-quitter@example.com")
    log.signup(minutes(30), 4, "repeat@example.com", status=200)  # already subscribed: no new subscription
    log.stock(minutes(60), 2)
    log.signup(minutes(60), 5, "same-instant@example.com")
    log.add(minutes(61), "unsubscribe", email="late-quitter@example.com", status=200)
    log.signup(minutes(90), 6, "after@example.com")
    log.stock(minutes(120), 0).stock(hours(30), 2)
    truth = log.truth(hours(40))
    assert [(t["subscription_id"], t["restocked_at"]) for t in truth["targets"]] == [
        (1, iso(minutes(60))),
        (3, iso(minutes(60))),  # opted out after the restock: the target stands (the send is skipped)
        (5, iso(minutes(60))),
        (6, iso(hours(30))),
    ]
    assert truth["totals"]["signups"] == 5 and truth["totals"]["notification_jobs"] == 4


def test_an_unsubscribe_before_signing_up_does_not_cancel_the_new_subscription() -> None:
    log = Log().stock(START, 0)
    log.add(minutes(5), "unsubscribe", email="back@example.com", status=200)
    log.signup(minutes(10), 1, "back@example.com").stock(minutes(60), 2)
    assert len(log.truth(hours(2))["targets"]) == 1


def test_last_touch_windows_are_inclusive_and_ties_go_to_the_click_then_the_higher_job() -> None:
    rules = Rules(click_window_hours=120, open_window_hours=24)
    click = Touch("9", "click", hours(0))
    assert last_touch([click], hours(120), rules) == click
    assert last_touch([click], hours(120) + timedelta(seconds=1), rules) is None
    assert last_touch([click], hours(0) - timedelta(seconds=1), rules) is None
    later_open = Touch("3", "open", hours(10))
    assert last_touch([click, later_open], hours(20), rules) == later_open  # the latest touch wins
    assert last_touch([click, later_open], hours(40), rules) == click  # the open's window has closed
    same_open = Touch("12", "open", hours(0))
    assert last_touch([same_open, click], hours(1), rules) == click
    higher = Touch("10", "click", hours(0))
    assert last_touch([click, higher], hours(1), rules) == higher  # 10 > 9 as numbers


def test_attribution_kpis_count_sent_jobs_only_and_can_differ_from_what_caused_orders() -> None:
    log = Log().stock(START, 0).signup(minutes(1), 1, "a@example.com").stock(minutes(60), 5)
    log.send(minutes(70), "1", "a@example.com").touch(minutes(80), "open", "1", "a@example.com")
    log.touch(minutes(81), "click", "1", "a@example.com")
    log.send(minutes(70), "2", "b@example.com", status=500).touch(minutes(82), "open", "2", "b@example.com")
    log.order(minutes(90), "o1", "A@Example.com ", "49.00", cause="notification")
    log.order(hours(20), "o2", "a@example.com", "10.50")  # organic, but inside the window: attributed
    log.order(minutes(95), "o3", "b@example.com", "20.00")  # b's job was never sent: no touch
    log.order(hours(200), "o4", "a@example.com", "5.00", cause="notification")  # caused, window closed
    totals = log.truth(hours(201))["totals"]
    assert totals["notification_jobs"] == 1
    assert (totals["notifications_attempted"], totals["notifications_sent"]) == (2, 1)
    assert (totals["notifications_opened"], totals["notifications_clicked"]) == (1, 1)
    assert (totals["attributed_orders"], totals["attributed_revenue"]) == (2, "59.50")
    assert (totals["orders_caused"], totals["revenue_caused"]) == (2, "54.00")
    assert (totals["total_orders"], totals["total_revenue"]) == (4, "84.50")
    assert totals["delivery_success_rate"] == 0.5 and totals["conversion_rate"] == 2.0
    assert totals["revenue_contribution"] == 59.5 / 84.5


def test_days_are_the_shops_dates_and_rates_are_null_without_a_denominator() -> None:
    log = Log()
    log.add(hours(22) + timedelta(minutes=30), "view", client_id="c1", status=202)  # 23:30 in Berlin: Nov 2
    log.add(hours(23) + timedelta(minutes=30), "view", client_id="c1", status=202)  # 00:30 in Berlin: Nov 3
    log.add(hours(23) + timedelta(minutes=31), "view", client_id="c2", status=None)  # never arrived
    log.signup(hours(23) + timedelta(minutes=40), 1, "c1@example.com")
    truth = log.truth(hours(30))
    assert [day["date"] for day in truth["daily"]] == ["2026-11-02", "2026-11-03"]
    first, second = truth["daily"]
    assert (first["product_viewers"], first["signups"], first["signup_rate"]) == (1, 0, 0.0)
    assert (second["product_viewers"], second["signups"], second["signup_rate"]) == (1, 1, 1.0)
    assert truth["totals"]["product_viewers"] == 1 and truth["totals"]["signup_rate"] == 1.0
    assert truth["totals"]["conversion_rate"] is None and truth["totals"]["revenue_contribution"] is None
    assert Log().truth(hours(1))["totals"]["signup_rate"] is None
    assert truth["totals"]["attributed_revenue"] == "0.00"
