"""The restock rules: their names, what a valid value is, which value is in force for a variant, and what
counts as sellable.

Every rule has a shop default in the settings (`[detection]`) and may be overridden in the operational store
per shop, per product or per variant (the narrowest scope wins). Detection (dbt) reads the same rows, copied
into the warehouse with their history; dispatch's live stock check calls `effective_rules` and
`sellable_quantity` here, so a send-time check and a restock decision apply one rule.

Changing a rule is an operator action (`set_rule`, `clear_rule`): validated, written with its history row
and its audit row in the caller's transaction. The CLI (`backinstock rules`) and the console call these.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backinstock.settings import DetectionSettings
from backinstock.store import audit
from backinstock.store import rules as stored

SCOPES = ("shop", "product", "variant")
RELEASE_MODES = ("automatic", "manual")
LOCATION_GID_PREFIX = "gid://shopify/Location/"
GID_PREFIX = {"product": "gid://shopify/Product/", "variant": "gid://shopify/ProductVariant/"}


class RuleError(ValueError):
    """A rule name, scope or value that cannot be accepted; the message says why."""


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleError(f"{name} must be a whole number from {low} to {high}")
    try:
        number = float(value)
    except ValueError:
        raise RuleError(f"{name} must be a whole number from {low} to {high}") from None
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise RuleError(f"{name} must be a whole number from {low} to {high}")
    return int(number)


def _multiplier(value: Any) -> float:
    name = "batch_multiplier"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleError(f"{name} must be a number from 0 to 1000 (0 releases everyone at once)")
    try:
        number = float(value)
    except ValueError:
        raise RuleError(f"{name} must be a number from 0 to 1000 (0 releases everyone at once)") from None
    if not math.isfinite(number) or not 0 <= number <= 1000:
        raise RuleError(f"{name} must be a number from 0 to 1000 (0 releases everyone at once)")
    return number


def _locations(value: Any) -> list[str]:
    """A non-empty list of location gids (or their numbers). To count the default locations again (active
    ones that fulfil online orders), clear the rule."""
    if isinstance(value, str):
        value = [part for part in value.replace(",", " ").split() if part]
    if not isinstance(value, list | tuple):
        raise RuleError("counted_locations must be a list of location ids")
    gids = []
    for item in value:
        text = str(item).strip()
        if text.isdigit():
            text = f"{LOCATION_GID_PREFIX}{text}"
        number = text.removeprefix(LOCATION_GID_PREFIX)
        if not text.startswith(LOCATION_GID_PREFIX) or not number.isdigit():
            raise RuleError(f"counted_locations: {item!r} is not a location id (gid://shopify/Location/N)")
        gids.append(text)
    if not gids:
        raise RuleError("counted_locations needs at least one location (clear the rule for the default)")
    return sorted(set(gids))


def _release(value: Any) -> str:
    if value not in RELEASE_MODES:
        raise RuleError(f"release must be one of {', '.join(RELEASE_MODES)}")
    return str(value)


VALIDATORS = {
    "threshold": lambda value: _whole("threshold", value, 1, 1_000_000),
    "debounce_minutes": lambda value: _whole("debounce_minutes", value, 0, 1440),
    "cooldown_hours": lambda value: _whole("cooldown_hours", value, 0, 8760),
    "counted_locations": _locations,
    "batch_multiplier": _multiplier,
    "batch_interval_minutes": lambda value: _whole("batch_interval_minutes", value, 1, 10080),
    "release": _release,
}
RULE_NAMES = tuple(VALIDATORS)


def validate(name: str, value: Any) -> Any:
    """The value in its stored form, or a RuleError that says what is wrong."""
    if name not in VALIDATORS:
        raise RuleError(f"unknown rule {name!r}; rules are {', '.join(RULE_NAMES)}")
    return VALIDATORS[name](value)


def validate_scope(scope: str, scope_id: str | None) -> str:
    """The scope id in its stored form: '' for the shop, else the product or variant gid."""
    if scope not in SCOPES:
        raise RuleError(f"scope must be one of {', '.join(SCOPES)}")
    text = (scope_id or "").strip()
    if scope == "shop":
        if text:
            raise RuleError("a shop rule takes no scope id")
        return ""
    if text.isdigit():
        text = f"{GID_PREFIX[scope]}{text}"
    if not text.startswith(GID_PREFIX[scope]) or not text.removeprefix(GID_PREFIX[scope]).isdigit():
        raise RuleError(f"a {scope} rule needs a {scope} id ({GID_PREFIX[scope]}N)")
    return text


@dataclass(frozen=True)
class Rules:
    """The values in force for one variant, and where each came from (`default`, `shop`, `product`,
    `variant`)."""

    threshold: int
    debounce_minutes: int
    cooldown_hours: int
    counted_locations: list[str] | None
    batch_multiplier: float
    batch_interval_minutes: int
    release: str
    sources: Mapping[str, str]


def defaults(settings: DetectionSettings) -> dict[str, Any]:
    """The shop defaults from the settings, validated like any stored value (no counted_locations: the
    default is every active location that fulfils online orders)."""
    values = {name: getattr(settings, name, None) for name in RULE_NAMES}
    return {name: None if value is None else validate(name, value) for name, value in values.items()}


def resolve(
    stored_rules: Iterable[Mapping[str, Any]],
    default_values: Mapping[str, Any],
    *,
    product_id: str | None,
    variant_id: str | None,
) -> Rules:
    """The narrowest stored value for each rule (variant, then product, then shop), else the default."""
    rank = {("variant", variant_id): 0, ("product", product_id): 1, ("shop", ""): 2}
    chosen: dict[str, tuple[int, Any, str]] = {}
    for row in stored_rules:
        position = rank.get((row["scope"], row["scope_id"]))
        if position is None or row["name"] not in VALIDATORS:
            continue
        if row["name"] not in chosen or position < chosen[row["name"]][0]:
            chosen[row["name"]] = (position, row["value"], row["scope"])
    values = {name: chosen[name][1] if name in chosen else default_values[name] for name in RULE_NAMES}
    sources = {name: chosen[name][2] if name in chosen else "default" for name in RULE_NAMES}
    return Rules(**values, sources=sources)


def effective_rules(
    connection: sa.Connection,
    settings: DetectionSettings,
    *,
    shop: str,
    product_id: str | None,
    variant_id: str | None,
) -> Rules:
    """The rules in force now for a variant (or a product, with `variant_id` None)."""
    rows = stored.rules_for(connection, shop=shop, product_id=product_id, variant_id=variant_id)
    return resolve(rows, defaults(settings), product_id=product_id, variant_id=variant_id)


@dataclass(frozen=True)
class Level:
    """One inventory level of a variant as the sellable rule needs it."""

    location_id: str
    available: int | None
    location_active: bool
    fulfills_online_orders: bool


def counts(level: Level, counted_locations: list[str] | None) -> bool:
    """Whether a level's stock can be sold online: at an active location that fulfils online orders, or at
    an active location the rules name."""
    if not level.location_active:
        return False
    if counted_locations:
        return level.location_id in counted_locations
    return level.fulfills_online_orders


def can_restock(
    tracked: bool | None, inventory_policy: str | None, product_status: str | None = None
) -> bool:
    """Only tracked variants that stop selling at zero, of an active product, can be sold out."""
    return (
        bool(tracked)
        and (inventory_policy or "").upper() == "DENY"
        and (product_status is None or product_status.upper() == "ACTIVE")
    )


def sellable_quantity(levels: Iterable[Level], rules: Rules) -> int:
    """Sum of max(available, 0) over the levels that count (a missing `available` counts 0)."""
    return sum(max(level.available or 0, 0) for level in levels if counts(level, rules.counted_locations))


def in_stock(levels: Iterable[Level], rules: Rules) -> bool:
    return sellable_quantity(levels, rules) >= rules.threshold


# --- operator actions --------------------------------------------------------------------------------------


def set_rule(
    connection: sa.Connection,
    *,
    shop: str,
    scope: str,
    scope_id: str | None,
    name: str,
    value: Any,
    actor: str,
    now: datetime,
    source: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Set a rule (validated); it applies to restocks decided from `now` on. Returns the stored rule."""
    scope_id = validate_scope(scope, scope_id)
    value = validate(name, value)
    shop = _shop(shop)
    before = stored.get_rule(connection, shop=shop, scope=scope, scope_id=scope_id, name=name)
    row = stored.write_rule(
        connection, shop=shop, scope=scope, scope_id=scope_id, name=name, value=value, actor=actor, now=now
    )
    audit.record(
        connection,
        actor=actor,
        action="rule.set",
        target_type="rule",
        target_id=rule_key(shop, scope, scope_id, name),
        before=None if before is None else before["value"],
        after=value,
        reason=reason,
        source=source,
        now=now,
    )
    return row


def clear_rule(
    connection: sa.Connection,
    *,
    shop: str,
    scope: str,
    scope_id: str | None,
    name: str,
    actor: str,
    now: datetime,
    source: str,
    reason: str | None = None,
) -> bool:
    """Remove an override, so the next wider scope (or the default) applies from `now` on. False when there
    was nothing to clear (nothing is written then)."""
    scope_id = validate_scope(scope, scope_id)
    validate_name(name)
    shop = _shop(shop)
    before = stored.get_rule(connection, shop=shop, scope=scope, scope_id=scope_id, name=name)
    if before is None:
        return False
    stored.delete_rule(connection, shop=shop, scope=scope, scope_id=scope_id, name=name, actor=actor, now=now)
    audit.record(
        connection,
        actor=actor,
        action="rule.clear",
        target_type="rule",
        target_id=rule_key(shop, scope, scope_id, name),
        before=before["value"],
        reason=reason,
        source=source,
        now=now,
    )
    return True


def validate_name(name: str) -> str:
    if name not in VALIDATORS:
        raise RuleError(f"unknown rule {name!r}; rules are {', '.join(RULE_NAMES)}")
    return name


def rule_key(shop: str, scope: str, scope_id: str, name: str) -> str:
    """How a rule is named in the audit log: shop, scope[:id], name."""
    return f"{shop}|{scope}{':' + scope_id if scope_id else ''}|{name}"


def _shop(shop: str) -> str:
    text = shop.strip().lower()
    if not text or "/" in text:
        raise RuleError("shop must be the shop's myshopify domain")
    return text


def as_dict(rules: Rules) -> dict[str, Any]:
    """The values of `rules` by name (for display and for recording on a decision)."""
    return {field.name: getattr(rules, field.name) for field in fields(rules) if field.name != "sources"}
