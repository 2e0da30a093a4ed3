"""The ground-truth rules on hand-made event logs: each edge of the contract's rules, one test each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulator.ground_truth import Rules, ground_truth
from simulator.instants import format_instant
from simulator.kpis import Touch, Windows, last_touch

START = datetime(2026, 11, 2, tzinfo=UTC)
A, B = "gid://shopify/Location/1", "gid://shopify/Location/2"
SHIRT, SCARF, CARD, SHIRT_L = (
    "gid://shopify/ProductVariant/1",
    "gid://shopify/ProductVariant/2",
    "gid://shopify/ProductVariant/3",
    "gid://shopify/ProductVariant/4",
)
SHIRTS, SCARVES, CARDS = (
    "gid://shopify/Product/1",
    "gid://shopify/Product/2",
    "gid://shopify/Product/3",
)
PRODUCT_OF = {SHIRT: SHIRTS, SHIRT_L: SHIRTS, SCARF: SCARVES, CARD: CARDS}


def minutes(value: float) -> datetime:
    return START + timedelta(minutes=value)


def hours(value: float) -> datetime:
    return START + timedelta(hours=value)


class Log:
    """A hand-made event log in the simulator's shape, built in time order."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.add(START, "shop", shop="s.myshopify.com", currency_code="EUR", timezone="Europe/Berlin")
        for location in (A, B):  # what the first poll told the product
            self.add(
                START, "served_location", location_id=location, is_active=True, fulfills_online_orders=True
            )
        for variant, product, tracked, policy in (
            (SHIRT, SHIRTS, True, "DENY"),
            (SHIRT_L, SHIRTS, True, "DENY"),
            (SCARF, SCARVES, True, "CONTINUE"),
            (CARD, CARDS, False, "DENY"),
        ):
            self.add(
                START, "variant", variant_id=variant, product_id=product, inventory_item_id=f"item-{variant}",
                tracked=tracked, inventory_policy=policy,
            )  # fmt: skip
            self.add(
                START, "served_variant", variant_id=variant, product_id=product,
                inventory_item_id=f"item-{variant}", tracked=tracked, inventory_policy=policy,
            )  # fmt: skip

    def add(self, at: datetime, kind: str, **fields) -> Log:
        self.events.append({"seq": len(self.events) + 1, "at": format_instant(at), "kind": kind, **fields})
        return self

    def stock(self, at: datetime, available: int, location: str = A, variant: str = SHIRT) -> Log:
        """A level changed and its inventory_levels/update webhook was delivered at once."""
        return self.add(
            at, "webhook", topic="inventory_levels/update", webhook_id=f"w{len(self.events)}", status=200,
            inventory_item_id=f"item-{variant}", location_id=location, available=available,
            updated_at=format_instant(at), triggered_at=format_instant(at),
        )  # fmt: skip

    def signup(self, at: datetime, email: str, status: int = 202) -> Log:
        return self.add(at, "signup", email=email, variant_id=SHIRT, status=status)

    def confirm(self, at: datetime, email: str, status: int = 200) -> Log:
        return self.add(at, "confirm", email=email, variant_id=SHIRT, status=status)

    def send(self, at: datetime, job_id: str, email: str, status: int = 202, variant: str = SHIRT) -> Log:
        return self.add(at, "send", job_id=job_id, email=email, variant_id=variant, status=status)

    def touch(self, at: datetime, kind: str, job_id: str, email: str) -> Log:
        return self.add(at, kind, job_id=job_id, email=email, status=302 if kind == "click" else 200)

    def order(
        self,
        at: datetime,
        order_id: str,
        email: str,
        total: str,
        cause: str = "organic",
        *,
        lines: tuple[tuple[str, str], ...] = (),
        job_id: str | None = None,
        **fields,
    ) -> Log:
        """An order whose first line is the shirt for `total`, then `lines` of (variant, net)."""
        items = [
            {
                "line_item_id": f"{order_id}-{index}",
                "variant_id": variant,
                "product_id": PRODUCT_OF[variant],
                "quantity": 1,
                "net": net,
            }
            for index, (variant, net) in enumerate(((SHIRT, total), *lines))
        ]
        return self.add(
            at, "order", order_id=order_id, email=email, lines=items, cause=cause, job_id=job_id, **fields
        )

    def refund(self, at: datetime, order_id: str, line: int, amount: str, kind: str = "refund") -> Log:
        return self.add(
            at, kind, order_id=order_id, lines=[{"line_item_id": f"{order_id}-{line}", "amount": amount}]
        )

    def truth(self, as_of: datetime, **rules) -> dict:
        """The ground truth; without double opt-in unless asked (most tests here are about other rules)."""
        return ground_truth(self.events, as_of, Rules(**{"double_opt_in": False, **rules}))

    def restocks(self, as_of: datetime, **rules) -> list[str]:
        return [restock["restocked_at"] for restock in self.truth(as_of, **rules)["restocks"]]


def iso(moment: datetime) -> str:
    return format_instant(moment)


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


def test_only_tracked_deny_variants_can_be_restocked() -> None:
    log = Log()
    for variant in (SCARF, CARD):
        log.stock(START, 0, variant=variant).stock(minutes(60), 5, variant=variant)
    assert log.restocks(hours(5)) == []


def test_targets_first_restock_at_or_after_signup_unless_unsubscribed_by_then() -> None:
    log = Log().stock(START, 0)
    log.signup(minutes(10), "before@example.com")
    log.signup(minutes(15), "quitter@example.com")
    log.add(minutes(20), "unsubscribe", email="quitter@example.com", status=200)
    log.signup(minutes(25), "late-quitter@example.com")
    log.signup(minutes(30), "refused@example.com", status=429)  # not accepted: no subscription
    log.stock(minutes(60), 2)
    log.signup(minutes(60), "same-instant@example.com")
    log.add(minutes(61), "unsubscribe", email="late-quitter@example.com", status=200)
    log.signup(minutes(90), "after@example.com")
    log.stock(minutes(120), 0).stock(hours(30), 2)
    truth = log.truth(hours(40))
    assert [(t["email"], t["restocked_at"]) for t in truth["targets"]] == [
        ("before@example.com", iso(minutes(60))),
        # opted out after the restock: the target stands (the send is skipped)
        ("late-quitter@example.com", iso(minutes(60))),
        ("same-instant@example.com", iso(minutes(60))),
        ("after@example.com", iso(hours(30))),
    ]
    assert truth["totals"]["signups"] == 5 and truth["totals"]["notification_jobs"] == 4


def test_an_unsubscribe_before_signing_up_does_not_cancel_the_new_subscription() -> None:
    log = Log().stock(START, 0)
    log.add(minutes(5), "unsubscribe", email="back@example.com", status=200)
    log.signup(minutes(10), "back@example.com").confirm(minutes(12), "back@example.com").stock(minutes(60), 2)
    assert len(log.truth(hours(2))["targets"]) == 1


def test_with_double_opt_in_a_signup_counts_from_its_confirmation_within_the_window() -> None:
    log = Log().stock(START, 0)
    log.signup(minutes(0), "quick@example.com").confirm(minutes(50), "quick@example.com")
    log.signup(minutes(1), "never@example.com")
    log.signup(minutes(2), "late@example.com").confirm(minutes(2) + timedelta(hours=72), "late@example.com")
    log.signup(minutes(3), "gone@example.com")
    log.add(minutes(4), "unsubscribe", email="gone@example.com", status=200)
    log.confirm(minutes(5), "gone@example.com")  # cancelled while pending: the click changes nothing
    log.signup(minutes(6), "after@example.com").confirm(minutes(70), "after@example.com")
    log.stock(minutes(60), 3).stock(minutes(65), 0).stock(hours(30), 3)
    truth = log.truth(hours(100), double_opt_in=True)
    assert [(t["email"], t["signed_up_at"], t["restocked_at"]) for t in truth["targets"]] == [
        ("quick@example.com", iso(minutes(50)), iso(minutes(60))),
        # confirmed after the first restock: answered by the next one
        ("after@example.com", iso(minutes(70)), iso(hours(30))),
    ]
    assert truth["totals"]["signups"] == 2
    assert [day["signups"] for day in truth["daily"]] == [2, 0, 0, 0, 0]
    assert log.truth(minutes(60), double_opt_in=True)["totals"]["signups"] == 1  # the later one not yet


def test_without_double_opt_in_only_someone_who_opted_out_must_confirm() -> None:
    log = Log().stock(START, 0)
    log.signup(minutes(0), "plain@example.com")  # counts at once
    log.add(minutes(1), "unsubscribe", email="back@example.com", status=200)
    log.signup(minutes(2), "back@example.com")  # suppressed: needs the person's confirmation
    log.signup(minutes(3), "back-again@example.com")
    log.add(minutes(4), "unsubscribe", email="back-again@example.com", status=200)
    log.signup(minutes(5), "back-again@example.com").confirm(minutes(9), "back-again@example.com")
    log.stock(minutes(60), 3)
    truth = log.truth(hours(2), double_opt_in=False)
    assert [(t["email"], t["signed_up_at"]) for t in truth["targets"]] == [
        ("plain@example.com", iso(minutes(0))),
        ("back-again@example.com", iso(minutes(9))),
    ]


def test_last_touch_windows_are_inclusive_and_ties_go_to_the_click_then_the_higher_job() -> None:
    windows = Windows(click_hours=120, open_hours=24)
    click = Touch("9", "click", hours(0))
    assert last_touch([click], hours(120), windows) == click
    assert last_touch([click], hours(120) + timedelta(seconds=1), windows) is None
    assert last_touch([click], hours(0) - timedelta(seconds=1), windows) is None
    later_open = Touch("3", "open", hours(10))
    assert last_touch([click, later_open], hours(20), windows) == later_open  # the latest touch wins
    assert last_touch([click, later_open], hours(40), windows) == click  # the open's window has closed
    same_open = Touch("12", "open", hours(0))
    assert last_touch([same_open, click], hours(1), windows) == click
    higher = Touch("10", "click", hours(0))
    assert last_touch([click, higher], hours(1), windows) == higher  # 10 > 9 as numbers


def alerted(log: Log, job: str, email: str, variant: str = SHIRT, at: datetime | None = None) -> Log:
    """A sent alert for `variant`, opened then clicked a few minutes later."""
    sent = at or minutes(70)
    log.send(sent, job, email, variant=variant)
    return log.touch(sent + timedelta(minutes=10), "open", job, email).touch(
        sent + timedelta(minutes=11), "click", job, email
    )


def test_conversion_is_a_cohort_of_sent_jobs_and_never_above_one() -> None:
    """One sent job followed by two orders converts once; a job never sent counts no touch."""
    log = Log().stock(START, 0).signup(minutes(1), "a@example.com").stock(minutes(60), 5)
    alerted(log, "1", "a@example.com")
    log.send(minutes(70), "2", "b@example.com", status=500).touch(minutes(82), "open", "2", "b@example.com")
    log.order(minutes(90), "o1", "A@Example.com ", "49.00", cause="notification", job_id="1")
    log.order(hours(20), "o2", "a@example.com", "10.50")  # organic, but inside the window: attributed
    log.order(minutes(95), "o3", "b@example.com", "20.00")  # b's job was never sent: no touch
    log.order(hours(200), "o4", "a@example.com", "5.00", cause="notification", job_id="1")  # window closed
    totals = log.truth(hours(201))["totals"]
    assert totals["notification_jobs"] == 1
    assert (totals["notifications_attempted"], totals["notifications_sent"]) == (2, 1)
    assert (totals["notifications_opened"], totals["notifications_clicked"]) == (1, 1)
    assert (totals["attributed_orders"], totals["attributed_revenue"]) == (2, "59.50")
    assert (totals["notifications_converted"], totals["conversion_rate"]) == (1, 1.0)
    assert (totals["orders_caused"], totals["revenue_caused"]) == (2, "54.00")
    assert (totals["total_orders"], totals["total_revenue"]) == (4, "84.50")
    assert totals["delivery_success_rate"] == 0.5
    assert totals["revenue_contribution"] == 59.5 / 84.5


def test_only_lines_in_scope_are_credited_and_each_to_one_job() -> None:
    """Same product by default: the other size is credited, the scarf is not. Two alerts before one order:
    each line goes to the latest touch whose scope holds it."""
    log = Log()
    alerted(log, "1", "a@example.com", SHIRT, minutes(10))
    alerted(log, "2", "a@example.com", SCARF, minutes(20))
    log.order(hours(2), "o1", "a@example.com", "30.00", lines=((SHIRT_L, "20.00"), (SCARF, "15.00")))
    truth = log.truth(hours(3))
    credited = {row["line_item_id"]: row["job_id"] for row in truth["attributions"]}
    assert credited == {"o1-0": "1", "o1-1": "1", "o1-2": "2"}
    assert truth["totals"]["attributed_revenue"] == "65.00"
    only_the_variant = log.truth(hours(3), attribution_scope="same_variant")["attributions"]
    assert {row["line_item_id"] for row in only_the_variant} == {"o1-0", "o1-2"}
    anything = log.truth(hours(3), attribution_scope="any")["attributions"]
    assert {row["line_item_id"]: row["job_id"] for row in anything} == {"o1-0": "2", "o1-1": "2", "o1-2": "2"}


def test_refunds_cancellations_and_test_orders() -> None:
    """A refund after attribution takes its amount off the credited line (on the order's day); a cancelled
    order counts nothing and credits nothing; a test order is no sale."""
    log = Log()
    alerted(log, "1", "a@example.com", at=minutes(10))
    log.order(hours(1), "o1", "a@example.com", "40.00", lines=((SHIRT_L, "10.00"),))
    log.order(hours(1), "o2", "a@example.com", "25.00")
    log.order(hours(1), "o3", "owner@example.com", "50.00", cause="test", test=True)
    log.refund(hours(50), "o1", 0, "15.00")
    log.refund(hours(2), "o2", 0, "25.00", kind="cancel")
    before = log.truth(hours(49))["totals"]
    after = log.truth(hours(51))
    assert (before["total_orders"], before["total_revenue"], before["attributed_revenue"]) == (
        1,
        "50.00",
        "50.00",
    )
    assert (after["totals"]["total_revenue"], after["totals"]["attributed_revenue"]) == ("35.00", "35.00")
    assert after["daily"][0]["total_revenue"] == "35.00"  # the order's day, not the refund's
    assert [(o["order_id"], o["net_revenue"], o["cancelled"]) for o in after["orders"]] == [
        ("o1", "35.00", False), ("o2", "0.00", True), ("o3", "50.00", False),
    ]  # fmt: skip


def test_contacts_and_click_tokens_reach_touches() -> None:
    """A guest matched by email; an account's default email; a click token with a different email (it
    reaches the job's clicks only, and only when the order really carries it)."""
    log = Log()
    alerted(log, "1", "a@example.com", at=minutes(10))
    log.send(minutes(10), "2", "b@example.com").touch(minutes(20), "open", "2", "b@example.com")
    log.order(hours(1), "guest", "A@example.com", "10.00")
    log.order(hours(1), "account", "work@example.org", "11.00", customer_email="a@example.com")
    log.order(hours(1), "token", "x@example.net", "12.00", carried_click="1", cart_attribute=True)
    log.order(hours(1), "lost", "x@example.net", "13.00", carried_click="1", journey_ready=False)
    log.order(hours(1), "open_token", "x@example.net", "14.00", carried_click="2", cart_attribute=True)
    credited = {row["order_id"] for row in log.truth(hours(2))["attributions"]}
    assert credited == {"guest", "account", "token"}


def test_a_cohort_whose_orders_fall_on_the_next_day() -> None:
    """Sent at 22:50 UTC (23:50 in Berlin) on Nov 2, bought after midnight: the conversion counts on Nov 2,
    the order and its money on Nov 3."""
    log = Log()
    alerted(log, "1", "a@example.com", at=hours(22) + timedelta(minutes=50))
    log.order(hours(23) + timedelta(minutes=30), "o1", "a@example.com", "20.00", "notification", job_id="1")
    first, second = log.truth(hours(30))["daily"]
    assert (first["notifications_sent"], first["notifications_converted"], first["conversion_rate"]) == (
        1,
        1,
        1.0,
    )
    assert (first["attributed_orders"], second["attributed_orders"]) == (0, 1)
    assert (second["attributed_revenue"], second["notifications_sent"], second["conversion_rate"]) == (
        "20.00", 0, None,
    )  # fmt: skip


def test_the_true_causal_lift_counts_what_the_alert_made_happen_inside_the_window() -> None:
    """Three alerted targets whose window (60 min) has ended: one bought from the alert inside it, one from
    the alert after it, one from the alert inside it though they had planned to come back inside it anyway.
    A fourth was alerted too recently to count."""
    log = Log()
    for job, email in (("1", "a@x.com"), ("2", "b@x.com"), ("3", "c@x.com")):
        log.send(minutes(10), job, email)
    log.send(hours(5), "4", "d@x.com")
    log.order(minutes(40), "o1", "a@x.com", "30.00", "notification", job_id="1")
    log.order(minutes(80), "o2", "b@x.com", "30.00", "notification", job_id="2")
    log.order(minutes(50), "o3", "c@x.com", "30.00", "notification", job_id="3", anyway_at=iso(minutes(60)))
    lift = log.truth(hours(5) + timedelta(minutes=30), holdout_delay_minutes=60)["lift"]
    assert (lift["alerted_targets"], lift["caused_conversions"]) == (3, 1)
    assert lift["true_causal_lift"] == 1 / 3 and lift["caused_revenue"] == "30.00"
    assert log.truth(hours(1), holdout_delay_minutes=60)["lift"]["true_causal_lift"] is None


def test_days_are_the_shops_dates_and_rates_are_null_without_a_denominator() -> None:
    log = Log()
    log.add(hours(22) + timedelta(minutes=30), "view", client_id="c1", variant_id=SHIRT, status=202)
    log.add(hours(23) + timedelta(minutes=30), "view", client_id="c1", variant_id=SHIRT, status=202)
    log.add(hours(23) + timedelta(minutes=31), "view", client_id="c2", variant_id=SHIRT, status=None)
    log.add(hours(23) + timedelta(minutes=32), "view", client_id="c1", variant_id=SCARF, status=202)
    log.signup(hours(23) + timedelta(minutes=40), "c1@example.com")
    truth = log.truth(hours(30))
    assert [day["date"] for day in truth["daily"]] == ["2026-11-02", "2026-11-03"]
    first, second = truth["daily"]
    assert (first["product_viewers"], first["signups"], first["signup_rate"]) == (1, 0, 0.0)
    assert (second["variant_viewers"], second["signups"], second["signup_rate"]) == (2, 1, 0.5)
    assert truth["totals"]["product_viewers"] == 1 and truth["totals"]["signup_rate"] == 0.5
    assert truth["totals"]["conversion_rate"] is None and truth["totals"]["revenue_contribution"] is None
    assert Log().truth(hours(1))["totals"]["signup_rate"] is None
    assert truth["totals"]["attributed_revenue"] == "0.00"
