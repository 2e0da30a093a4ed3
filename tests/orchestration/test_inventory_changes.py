"""The reconciliation check (`inventory_changes` sensor) against the simulated Shopify on loopback: it asks
for the alerts path once a change of stock to a variant people wait for can be confirmed, never for changes
nobody waits for, never twice for what a run as of a later instant already sees."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from backinstock.store.engine import create_store_engine
from backinstock.store.migrate import upgrade
from backinstock.store.subscriptions import Consent, subscribe
from orchestration import inventory_changes
from orchestration.inventory_changes import inventory_changes_sensor
from orchestration.jobs import AS_OF_TAG, TRIGGER_TAG
from simulator.gids import gid
from simulator.world import World
from tests.simulator.sim_harness import SHOP, TOKEN, serving, world_config

DEBOUNCE = timedelta(minutes=5)


def _configure(tmp_path, url: str) -> None:
    (tmp_path / "backinstock.toml").write_text(
        f'data_dir = "{tmp_path}"\nclock_file = "{tmp_path / "clock"}"\n'
        f"[detection]\ndebounce_minutes = {DEBOUNCE.seconds // 60}\n"
        f'[[shops]]\ndomain = "{SHOP}"\naccess_token = "{TOKEN}"\nadmin_api_url = "{url}"\n'
        # A shop whose token Shopify refuses (uninstalled): left to the poll, never in the others' way.
        f'[[shops]]\ndomain = "gone.myshopify.com"\naccess_token = "revoked"\nadmin_api_url = "{url}"\n'
    )


def _wait_for(tmp_path, shop: str, variant_id: str, now) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'backinstock.db'}")
    upgrade(engine)
    with engine.begin() as store:
        subscribe(
            store, shop=shop, variant_id=variant_id, product_id="gid://shopify/Product/1", channel="email",
            contact="waiting@example.com", locale="en", client_id=None,
            consent=Consent(text="Tell me.", method="storefront_form"), now=now,
        )  # fmt: skip


def _tick(tmp_path, instance: dg.DagsterInstance, now, cursor: str | None):
    (tmp_path / "clock").write_text(now.isoformat())
    return inventory_changes_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_a_confirmable_change_to_a_waited_for_variant_starts_one_alerts_run(tmp_path, monkeypatch):
    world = World(world_config("http://127.0.0.1:9", restore_rate=100_000))
    store = world.store
    start = world.config.start
    waited, ignored = list(store.variants.values())[:2]
    location_id = next(location for location, item in store.levels if item == waited.inventory_item_id)
    with serving(world) as url:
        _configure(tmp_path, url)
        monkeypatch.setenv("BACKINSTOCK_CONFIG", str(tmp_path / "backinstock.toml"))
        _wait_for(tmp_path, SHOP, gid("ProductVariant", waited.id), start)
        with dg.instance_for_test() as instance:
            first = _tick(tmp_path, instance, start + timedelta(hours=1), None)
            assert isinstance(first, dg.SensorResult) and not first.run_requests
            cursor = first.cursor

            restocked_at = start + timedelta(hours=1, minutes=1)
            store.adjust(location_id, waited.inventory_item_id, 5, restocked_at, "restock")
            store.adjust(location_id, ignored.inventory_item_id, 5, restocked_at, "restock")
            early = _tick(tmp_path, instance, restocked_at + DEBOUNCE - timedelta(seconds=1), cursor)
            assert not early.run_requests, "still inside the debounce window"
            assert "gone.myshopify.com did not answer" in early.skip_reason.skip_message
            cursor = early.cursor

            confirmable = _tick(tmp_path, instance, restocked_at + DEBOUNCE, cursor)
            [request] = confirmable.run_requests
            as_of = (restocked_at + DEBOUNCE).isoformat().replace("+00:00", "Z")
            assert (request.tags[TRIGGER_TAG], request.tags[AS_OF_TAG]) == ("inventory_changes", as_of)

            # Nothing new since: the next tick asks for nothing.
            again = _tick(
                tmp_path, instance, restocked_at + DEBOUNCE + timedelta(seconds=5), confirmable.cursor
            )
            assert not again.run_requests

            # A change nobody waits for never starts a run.
            later = restocked_at + timedelta(minutes=30)
            store.adjust(location_id, ignored.inventory_item_id, 3, later, "restock")
            unwaited = _tick(tmp_path, instance, later + DEBOUNCE, again.cursor)
            assert not unwaited.run_requests

            # A run already asked for as of a later instant (the webhook sensor's) sees the change: no second
            # run, and the cursor moves past it.
            changed_at = later + timedelta(minutes=1)
            store.adjust(location_id, waited.inventory_item_id, 2, changed_at, "restock")
            create_run_for_test(
                instance, job_name="alerts", tags={AS_OF_TAG: (changed_at + DEBOUNCE).isoformat()}
            )
            covered = _tick(tmp_path, instance, changed_at + DEBOUNCE, unwaited.cursor)
            assert not covered.run_requests and "sees these changes" in covered.skip_reason.skip_message
            assert covered.cursor > unwaited.cursor


def test_a_change_confirmable_soon_launches_its_run_ahead_unless_one_is_due_now(tmp_path, monkeypatch):
    """Within `launch_ahead` of its confirmable instant a change gets its run at once, as of that instant
    and waiting for it; a change that can be confirmed already goes alone, as of now."""
    world = World(world_config("http://127.0.0.1:9", restore_rate=100_000))
    store = world.store
    start = world.config.start
    first, second = list(store.variants.values())[:2]
    with serving(world) as url:
        _configure(tmp_path, url)
        monkeypatch.setenv("BACKINSTOCK_CONFIG", str(tmp_path / "backinstock.toml"))
        # On a simulated clock nothing is launched ahead (its driver moves it); here the test moves it.
        monkeypatch.setattr(inventory_changes, "launch_ahead", lambda settings: timedelta(seconds=30))
        for variant in (first, second):
            _wait_for(tmp_path, SHOP, gid("ProductVariant", variant.id), start)
        with dg.instance_for_test() as instance:
            cursor = _tick(tmp_path, instance, start + timedelta(hours=1), None).cursor
            restocked_at = start + timedelta(hours=1, minutes=1)
            for variant, after in ((first, timedelta(0)), (second, timedelta(seconds=20))):
                location_id = next(loc for loc, item in store.levels if item == variant.inventory_item_id)
                store.adjust(location_id, variant.inventory_item_id, 5, restocked_at + after, "restock")

            due = _tick(tmp_path, instance, restocked_at + DEBOUNCE + timedelta(seconds=5), cursor)
            [request] = due.run_requests
            assert request.tags[AS_OF_TAG] == (
                restocked_at + DEBOUNCE + timedelta(seconds=5)
            ).isoformat().replace("+00:00", "Z"), (
                "the due change goes now, without the one confirmable in 15 s"
            )
            assert "wait_for_as_of" not in request.run_config["resources"]["clock"]["config"]
            create_run_for_test(
                instance, job_name="alerts", status=dg.DagsterRunStatus.SUCCESS, tags=request.tags
            )

            ahead = _tick(tmp_path, instance, restocked_at + DEBOUNCE + timedelta(seconds=6), due.cursor)
            [request] = ahead.run_requests
            confirmable = restocked_at + timedelta(seconds=20) + DEBOUNCE
            assert request.tags[AS_OF_TAG] == confirmable.isoformat().replace("+00:00", "Z")
            assert request.run_config["resources"]["clock"]["config"]["wait_for_as_of"] is True
