"""Rules and manual releases as operator actions (validated, with history and audit), the rules in force for
a variant, the sellable-quantity rule dispatch shares with detection, and deferred jobs released at a
restock. On SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from seed_rows import NOW, SHOP, signup, target_for

from backinstock import releases, rules
from backinstock.settings import DetectionSettings
from backinstock.store import audit, jobs
from backinstock.store import releases as stored_releases
from backinstock.store import rules as stored
from backinstock.store.tables import notification_jobs

PRODUCT = "gid://shopify/Product/501"
VARIANT = "gid://shopify/ProductVariant/601"
ACTION = {"actor": "ops@example.com", "source": "203.0.113.9"}


def _set(connection, name, value, scope="shop", scope_id=None, now=NOW, **extra):
    return rules.set_rule(
        connection,
        shop=SHOP,
        scope=scope,
        scope_id=scope_id,
        name=name,
        value=value,
        now=now,
        **ACTION,
        **extra,
    )


def test_set_writes_the_override_its_history_and_its_audit_row(store_engine):
    with store_engine.begin() as connection:
        _set(connection, "cooldown_hours", 24)
        row = _set(connection, "cooldown_hours", "12", now=NOW + timedelta(hours=1), reason="flash sale")
    with store_engine.connect() as connection:
        history = stored.rule_history(connection, shop=SHOP)
        logged = audit.entries(connection, action="rule.set")
        overrides = stored.list_rules(connection, shop=SHOP)
    assert (row["value"], row["updated_by"], row["updated_at"]) == (
        12,
        "ops@example.com",
        NOW + timedelta(hours=1),
    )
    assert [(change["value"], change["changed_at"]) for change in history] == [
        (24, NOW),
        (12, NOW + timedelta(hours=1)),
    ]
    assert [(entry["details"].get("before"), entry["details"]["after"]) for entry in logged] == [
        (24, 12),
        (None, 24),
    ]
    assert logged[0]["target_id"] == f"{SHOP}|shop|cooldown_hours"
    assert logged[0]["details"]["reason"] == "flash sale" and logged[0]["details"]["source"] == "203.0.113.9"
    assert len(overrides) == 1


def test_clear_removes_the_override_and_records_a_null_change(store_engine):
    with store_engine.begin() as connection:
        _set(connection, "threshold", 3, scope="product", scope_id="501")
        cleared = rules.clear_rule(
            connection, shop=SHOP, scope="product", scope_id=PRODUCT, name="threshold", now=NOW, **ACTION
        )
        again = rules.clear_rule(
            connection, shop=SHOP, scope="product", scope_id=PRODUCT, name="threshold", now=NOW, **ACTION
        )
    with store_engine.connect() as connection:
        history = stored.rule_history(connection)
        logged = audit.entries(connection, action="rule.clear")
        left = stored.list_rules(connection)
    assert (cleared, again, left) == (True, False, [])
    assert [(change["scope_id"], change["value"]) for change in history] == [(PRODUCT, 3), (PRODUCT, None)]
    assert len(logged) == 1 and logged[0]["details"]["before"] == 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("threshold", 0, "threshold must be a whole number from 1"),
        ("threshold", 2.5, "whole number"),
        ("threshold", True, "whole number"),
        ("debounce_minutes", -1, "from 0 to 1440"),
        ("cooldown_hours", "soon", "whole number"),
        ("batch_multiplier", -0.5, "from 0 to 1000"),
        ("batch_multiplier", float("nan"), "from 0 to 1000"),
        ("batch_interval_minutes", 0, "from 1 to 10080"),
        ("release", "later", "automatic, manual"),
        ("counted_locations", [], "at least one location"),
        ("counted_locations", ["gid://shopify/Product/1"], "is not a location id"),
        ("colour", "red", "unknown rule"),
    ],
)
def test_bad_values_are_refused_with_the_reason_and_nothing_is_written(store_engine, name, value, message):
    with store_engine.begin() as connection, pytest.raises(rules.RuleError, match=message):
        _set(connection, name, value)
    with store_engine.connect() as connection:
        assert stored.rule_history(connection) == [] and audit.entries(connection) == []


@pytest.mark.parametrize(
    ("scope", "scope_id", "message"),
    [
        ("shop", "1", "takes no scope id"),
        ("product", None, "needs a product id"),
        ("variant", PRODUCT, "variant id"),
        ("collection", "1", "scope must be"),
    ],
)
def test_bad_scopes_are_refused(store_engine, scope, scope_id, message):
    with store_engine.begin() as connection, pytest.raises(rules.RuleError, match=message):
        _set(connection, "threshold", 2, scope=scope, scope_id=scope_id)


def test_the_narrowest_override_wins_and_defaults_fill_the_rest(store_engine):
    settings = DetectionSettings(cooldown_hours=48, batch_multiplier=0)
    with store_engine.begin() as connection:
        _set(connection, "threshold", 2)
        _set(connection, "threshold", 5, scope="product", scope_id=PRODUCT)
        _set(connection, "threshold", 7, scope="variant", scope_id="gid://shopify/ProductVariant/999")
        _set(
            connection, "counted_locations", "1, gid://shopify/Location/2", scope="variant", scope_id=VARIANT
        )
        _set(connection, "release", "manual", scope="product", scope_id="gid://shopify/Product/777")
        rules.set_rule(
            connection, shop="other.myshopify.com", scope="shop", scope_id=None, name="debounce_minutes",
            value=30, now=NOW, **ACTION,
        )  # fmt: skip
    with store_engine.connect() as connection:
        variant = rules.effective_rules(
            connection, settings, shop=SHOP, product_id=PRODUCT, variant_id=VARIANT
        )
        product = rules.effective_rules(connection, settings, shop=SHOP, product_id=PRODUCT, variant_id=None)
        elsewhere = rules.effective_rules(
            connection, settings, shop=SHOP, product_id="gid://shopify/Product/2", variant_id=None
        )
    assert (variant.threshold, variant.sources["threshold"]) == (5, "product")
    assert variant.counted_locations == ["gid://shopify/Location/1", "gid://shopify/Location/2"]
    assert variant.sources["counted_locations"] == "variant"
    assert (variant.cooldown_hours, variant.sources["cooldown_hours"]) == (48, "default")
    assert (variant.debounce_minutes, variant.release) == (5, "automatic")
    assert product.counted_locations is None
    assert (elsewhere.threshold, elsewhere.sources["threshold"]) == (2, "shop")


def _levels():
    return [
        rules.Level("gid://shopify/Location/1", 3, location_active=True, fulfills_online_orders=True),
        rules.Level("gid://shopify/Location/2", 4, location_active=True, fulfills_online_orders=False),  # POS
        rules.Level("gid://shopify/Location/3", 9, location_active=False, fulfills_online_orders=True),
        rules.Level("gid://shopify/Location/4", -2, location_active=True, fulfills_online_orders=True),
        rules.Level("gid://shopify/Location/5", None, location_active=True, fulfills_online_orders=True),
    ]


def test_sellable_counts_active_online_locations_unless_the_rules_name_others():
    default = rules.resolve(
        [], rules.defaults(DetectionSettings(threshold=4)), product_id=None, variant_id=None
    )
    named = rules.resolve(
        [{"scope": "shop", "scope_id": "", "name": "counted_locations",
          "value": ["gid://shopify/Location/2", "gid://shopify/Location/3"]}],
        rules.defaults(DetectionSettings(threshold=4)), product_id=None, variant_id=None,
    )  # fmt: skip
    assert rules.sellable_quantity(_levels(), default) == 3  # oversold -2 counts 0; POS and inactive left out
    assert not rules.in_stock(_levels(), default)
    assert rules.sellable_quantity(_levels(), named) == 4  # the named POS location; the inactive one never
    assert rules.in_stock(_levels(), named)
    assert rules.can_restock(True, "deny") and not rules.can_restock(True, "CONTINUE")
    assert not rules.can_restock(False, "DENY") and not rules.can_restock(True, "DENY", "ARCHIVED")


def test_a_manual_release_is_recorded_and_audited(store_engine):
    with store_engine.begin() as connection:
        first = releases.release_held_targets(
            connection, shop=SHOP.upper(), product_id="501", now=NOW, reason="stock counted", **ACTION
        )
    with store_engine.connect() as connection:
        recorded = stored_releases.list_releases(connection, shop=SHOP)
        logged = audit.entries(connection, action="targets.release")
    assert [(row["id"], row["product_id"], row["released_at"]) for row in recorded] == [(first, PRODUCT, NOW)]
    assert logged[0]["target_id"] == f"{SHOP}|{PRODUCT}" and logged[0]["details"]["reason"] == "stock counted"
    with store_engine.begin() as connection, pytest.raises(rules.RuleError):
        releases.release_held_targets(connection, shop=SHOP, product_id="shirt", now=NOW, **ACTION)


def test_deferred_jobs_go_back_to_pending_at_the_next_restock_keeping_their_priority(store_engine):
    with store_engine.begin() as connection:
        ids = [signup(connection, email) for email in ("a@example.com", "b@example.com", "c@example.com")]
        jobs.enqueue_targets(
            connection, [target_for(connection, sid, rank=rank) for rank, sid in enumerate(ids, 1)], NOW
        )
        connection.execute(
            sa.update(notification_jobs)
            .where(notification_jobs.c.subscription_id.in_(ids[:2]))
            .values(status="deferred", updated_at=NOW + timedelta(minutes=5))
        )
    later = NOW + timedelta(hours=3)
    with store_engine.begin() as connection:
        too_early = jobs.release_deferred(
            connection, shop=SHOP, variant_id="gid://shopify/ProductVariant/1", decided_at=NOW, now=later
        )
        moved = jobs.release_deferred(
            connection, shop=SHOP, variant_id="gid://shopify/ProductVariant/1", decided_at=later, now=later
        )
        rows = connection.execute(sa.select(notification_jobs).order_by(notification_jobs.c.priority)).all()
    assert (too_early, moved) == (0, 2)
    assert [(row.status, row.priority, row.due_at) for row in rows] == [
        ("pending", 1, later), ("pending", 2, later), ("pending", 3, NOW),
    ]  # fmt: skip
