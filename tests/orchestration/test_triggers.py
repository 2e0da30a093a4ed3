"""When the webhook inbox sensor asks for the alerts path: once a restock could be confirmed (observed +
debounce, and arrived), cursor on the inbox id, never while an alerts run is going."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.test_utils import create_run_for_test

from backinstock.clock import FileClock, format_instant, parse_instant
from backinstock.store.engine import create_store_engine
from backinstock.store.inbox import store_webhook
from backinstock.store.migrate import upgrade
from orchestration.defs.notifications.assets import DispatchRun
from orchestration.jobs import AS_OF_TAG, TRIGGER_TAG
from orchestration.resources import BackInStockSettings, CycleClock, run_instant, wait_until
from orchestration.schedules import dispatch_every_minute, dispatch_until, reconciliation_poll
from orchestration.sensors import (
    LAUNCH_AHEAD,
    InboxRow,
    alerts_run_for,
    confirmable_prefix,
    observed_at,
    webhook_inbox_sensor,
    whole_second_after,
)

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DEBOUNCE = timedelta(minutes=5)


def _row(id_: int, updated: datetime | None, received: datetime) -> InboxRow:
    payload = {"inventory_item_id": 1, "location_id": 2, "available": 3}
    if updated is not None:
        payload["updated_at"] = updated.isoformat()
    return InboxRow(id_, received, json.dumps(payload))


def test_an_observation_is_dated_by_shopify_never_after_its_arrival():
    assert observed_at(_row(1, T0, T0 + timedelta(seconds=40))) == T0
    assert observed_at(_row(1, T0 + timedelta(hours=1), T0)) == T0, "a clock ahead of ours"
    assert observed_at(InboxRow(1, T0, "not json")) == T0
    assert observed_at(_row(1, None, T0)) == T0


def test_only_the_leading_rows_whose_debounce_has_passed_are_confirmable():
    rows = [
        _row(1, T0, T0),
        _row(2, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)),
        _row(3, T0 + timedelta(minutes=3), T0 + timedelta(minutes=3)),
    ]
    assert confirmable_prefix(rows, DEBOUNCE, T0 + timedelta(minutes=4, seconds=59)) is None
    assert confirmable_prefix(rows, DEBOUNCE, T0 + timedelta(minutes=5)) == 1
    assert confirmable_prefix(rows, DEBOUNCE, T0 + timedelta(minutes=7)) == 2
    assert confirmable_prefix(rows, DEBOUNCE, T0 + timedelta(minutes=8)) == 3
    late = [_row(4, T0, T0 + timedelta(minutes=9))]  # a webhook that arrived late: confirmable on arrival
    assert confirmable_prefix(late, DEBOUNCE, T0 + timedelta(minutes=9)) == 4


def _settings_with_clock(tmp_path, now: datetime) -> str:
    clock = tmp_path / "clock"
    clock.write_text(now.isoformat())
    config = tmp_path / "backinstock.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nclock_file = "{clock}"\n')
    return str(config)


def test_the_sensor_fires_once_the_debounce_passed_and_keeps_its_cursor(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKINSTOCK_CONFIG", _settings_with_clock(tmp_path, T0 + timedelta(minutes=2)))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'backinstock.db'}")
    upgrade(engine)
    with engine.begin() as store:
        for number, topic in enumerate(
            ["inventory_levels/update", "orders/create", "inventory_levels/update"]
        ):
            store_webhook(
                store, shop="s.myshopify.com", topic=topic, webhook_id=f"w{number}", event_id=None,
                api_version="2026-10", triggered_at=T0, now=T0 + timedelta(minutes=number),
                payload=json.dumps({"updated_at": (T0 + timedelta(minutes=number)).isoformat()}),
            )  # fmt: skip
    with dg.instance_for_test() as instance:
        early = webhook_inbox_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(early, dg.SkipReason) and "debounce" in early.skip_message

        (tmp_path / "clock").write_text((T0 + timedelta(minutes=6)).isoformat())
        result = webhook_inbox_sensor(dg.build_sensor_context(instance=instance))
        (request,) = result.run_requests
        assert result.cursor == "1", "the first update is confirmable, the one at minute 2 is not yet"
        assert request.tags[TRIGGER_TAG] == "webhook_inbox"
        assert request.tags[AS_OF_TAG] == "2026-11-02T12:06:00Z"

        # An alerts run going: the confirmed rows wait (cursor unchanged) instead of stacking runs.
        (tmp_path / "clock").write_text((T0 + timedelta(minutes=8)).isoformat())
        run = create_run_for_test(instance, job_name="alerts", status=dg.DagsterRunStatus.STARTED)
        waiting = webhook_inbox_sensor(dg.build_sensor_context(instance=instance, cursor="1"))
        assert isinstance(waiting, dg.SkipReason) and "in progress" in waiting.skip_message
        instance.report_run_canceled(run)
        later = webhook_inbox_sensor(dg.build_sensor_context(instance=instance, cursor="1"))
        assert later.cursor == "3" and later.run_requests[0].run_key == "webhook-inbox-3"
        with engine.connect() as store:
            assert store.execute(sa.text("SELECT count(*) FROM webhook_inbox")).scalar_one() == 3

        # A run asked for as of a late enough instant (by the reconciliation check) sees the next update:
        # the cursor moves past it without a second run.
        with engine.begin() as store:
            store_webhook(
                store, shop="s.myshopify.com", topic="inventory_levels/update", webhook_id="w3",
                event_id=None, api_version="2026-10", triggered_at=T0, now=T0 + timedelta(minutes=3),
                payload=json.dumps({"updated_at": (T0 + timedelta(minutes=3)).isoformat()}),
            )  # fmt: skip
        (tmp_path / "clock").write_text((T0 + timedelta(minutes=9)).isoformat())
        create_run_for_test(
            instance, job_name="alerts", status=dg.DagsterRunStatus.SUCCESS,
            tags={AS_OF_TAG: "2026-11-02T12:08:00Z"},
        )  # fmt: skip
        covered = webhook_inbox_sensor(dg.build_sensor_context(instance=instance, cursor="3"))
        assert not covered.run_requests and covered.cursor == "4"


def test_on_the_system_clock_a_run_decides_as_of_whole_seconds(tmp_path, monkeypatch):
    """What a run ingests is stamped with its instant and its models read as of whole seconds: a finer
    instant would hide the run's own ingest from it. A webhook that arrived later in the sensor's second
    waits for the next tick (the run it would ask for could not see it)."""
    assert run_instant(T0 + timedelta(microseconds=999_999)) == T0
    clock = CycleClock(as_of="2026-11-02T12:00:00.750Z", settings=BackInStockSettings())
    clock.setup_for_execution(dg.build_init_resource_context())
    assert clock.now() == T0

    monkeypatch.setenv("BACKINSTOCK_CONFIG", _settings_with_clock(tmp_path, T0 + timedelta(minutes=6)))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'backinstock.db'}")
    upgrade(engine)
    with engine.begin() as store:
        store_webhook(
            store, shop="s.myshopify.com", topic="inventory_levels/update", webhook_id="w", event_id=None,
            api_version="2026-10", triggered_at=T0, now=T0 + timedelta(minutes=6, microseconds=250_000),
            payload=json.dumps({"updated_at": T0.isoformat()}),
        )  # fmt: skip
    (tmp_path / "clock").write_text((T0 + timedelta(minutes=6, microseconds=500_000)).isoformat())
    with dg.instance_for_test() as instance:
        waiting = webhook_inbox_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(waiting, dg.SkipReason)
        (tmp_path / "clock").write_text((T0 + timedelta(minutes=6, seconds=1)).isoformat())
        (request,) = webhook_inbox_sensor(dg.build_sensor_context(instance=instance)).run_requests
    assert request.tags[AS_OF_TAG] == "2026-11-02T12:06:01Z"


def _inventory_webhook(engine, webhook_id: str, at: datetime) -> None:
    with engine.begin() as store:
        store_webhook(
            store, shop="s.myshopify.com", topic="inventory_levels/update", webhook_id=webhook_id,
            event_id=None, api_version="2026-10", triggered_at=at, now=at,
            payload=json.dumps({"updated_at": at.isoformat()}),
        )  # fmt: skip


def test_on_real_time_the_run_is_launched_ahead_of_the_confirmable_instant_and_waits_for_it(
    tmp_path, monkeypatch
):
    """The run worker's start and import take seconds: the sensor launches the alerts run up to
    LAUNCH_AHEAD before the restock can be confirmed, as of that instant and told to wait for it, and the
    run's clock does wait (it never decides as of a moment not yet passed)."""
    config = tmp_path / "backinstock.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')  # the system clock
    monkeypatch.setenv("BACKINSTOCK_CONFIG", str(config))
    engine = create_store_engine(f"sqlite:///{tmp_path / 'backinstock.db'}")
    upgrade(engine)
    observed = datetime.now(UTC) - DEBOUNCE + timedelta(seconds=12, microseconds=300_000)
    _inventory_webhook(engine, "due", observed - timedelta(seconds=15))
    _inventory_webhook(engine, "soon", observed)
    _inventory_webhook(engine, "later", observed + LAUNCH_AHEAD)
    with dg.instance_for_test() as instance:
        overdue = webhook_inbox_sensor(dg.build_sensor_context(instance=instance))
        create_run_for_test(
            instance, job_name="alerts", status=dg.DagsterRunStatus.SUCCESS, tags=overdue.run_requests[0].tags
        )
        result = webhook_inbox_sensor(dg.build_sensor_context(instance=instance, cursor="1"))
    # A restock that can be confirmed already goes at once, alone: it never waits for a later one.
    assert overdue.cursor == "1"
    assert "wait_for_as_of" not in overdue.run_requests[0].run_config["resources"]["clock"]["config"]
    assert parse_instant(overdue.run_requests[0].tags[AS_OF_TAG]) <= datetime.now(UTC)
    (request,) = result.run_requests
    assert result.cursor == "2", "the third webhook is confirmable only after the launch-ahead window"
    as_of = parse_instant(request.tags[AS_OF_TAG])
    assert as_of == whole_second_after(observed + DEBOUNCE) > datetime.now(UTC)
    clock_config = request.run_config["resources"]["clock"]["config"]
    assert clock_config == {"as_of": format_instant(as_of), "wait_for_as_of": True}

    soon = whole_second_after(datetime.now(UTC) + timedelta(seconds=1.5))
    clock = CycleClock(
        as_of=format_instant(soon), wait_for_as_of=True, settings=BackInStockSettings(config_file=str(config))
    )
    clock.setup_for_execution(dg.build_init_resource_context())
    assert datetime.now(UTC) >= soon and clock.now() == soon


def test_two_sensors_seeing_one_restock_at_the_same_tick_ask_for_one_run():
    """The webhook sensor and the reconciliation check are evaluated side by side: the second to decide
    sees the first's request before the daemon has created its run, and waits (cursor kept); once the run
    exists it sees the restock covered."""
    now = T0 + timedelta(minutes=6)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        first = alerts_run_for(
            context, confirmable=now, now=now, trigger="webhook_inbox", key="7", what="webhooks"
        )
        (request,) = first.run_requests
        second = alerts_run_for(
            context, confirmable=now, now=now, trigger="inventory_changes", key="c", what="changes"
        )
        assert isinstance(second, dg.SkipReason) and "just asked for" in second.skip_message
        create_run_for_test(instance, job_name="alerts", tags=request.tags)  # the daemon creates it
        covered = alerts_run_for(
            context, confirmable=now, now=now, trigger="inventory_changes", key="c", what="changes"
        )
        assert not covered.run_requests and covered.cursor == "c"


def test_a_run_waiting_for_a_clock_nobody_moves_fails_instead_of_hanging(tmp_path):
    clock = FileClock(tmp_path / "clock")
    clock.set(T0)
    wait_until(clock, T0)  # already there: no wait
    with pytest.raises(RuntimeError, match="did not reach"):
        wait_until(clock, T0 + timedelta(seconds=0.2), slack=timedelta(seconds=0.3))


def test_a_dispatch_run_sends_until_just_before_the_next_tick():
    """So the next tick finds it over and starts the next one: a dispatcher is up most of every minute."""
    tick = datetime(2026, 11, 2, 12, 5, tzinfo=UTC)
    assert dispatch_until(tick) == {"until": "2026-11-02T12:05:57Z"}
    assert dispatch_until(tick + timedelta(seconds=40)) == {"until": "2026-11-02T12:05:57Z"}
    config = DispatchRun(**dispatch_until(tick))
    assert config.seconds(tick + timedelta(seconds=10)) == 47.0
    assert config.seconds(tick + timedelta(minutes=2)) == 0.0
    assert DispatchRun(for_seconds=5).seconds(tick) == 5.0
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        request = dispatch_every_minute.evaluate_tick(context).run_requests[0]
    ops = request.run_config["ops"]["operational__notification_deliveries"]["config"]
    assert ops == {"until": "2026-11-02T12:05:57Z"}


def test_the_poll_is_skipped_when_an_alerts_run_polled_since_the_last_tick(tmp_path, monkeypatch):
    """Every alerts run polls Shopify's levels: one a sensor asked for less than five minutes before the
    tick did the poll's work; an older one does not."""
    tick = T0 + timedelta(minutes=5)
    monkeypatch.setenv("BACKINSTOCK_CONFIG", _settings_with_clock(tmp_path, tick))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        create_run_for_test(
            instance, job_name="alerts", status=dg.DagsterRunStatus.SUCCESS,
            tags={AS_OF_TAG: "2026-11-02T12:00:00Z"},
        )  # fmt: skip
        (request,) = reconciliation_poll.evaluate_tick(context).run_requests
        assert request.tags[AS_OF_TAG] == "2026-11-02T12:05:00Z", "five minutes old: the poll runs"
        create_run_for_test(
            instance, job_name="alerts", status=dg.DagsterRunStatus.SUCCESS,
            tags={AS_OF_TAG: "2026-11-02T12:02:30Z"},
        )  # fmt: skip
        skipped = reconciliation_poll.evaluate_tick(context)
        assert not skipped.run_requests and "polled Shopify" in skipped.skip_message
