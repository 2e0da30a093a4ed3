"""`backinstock rules list|set|clear` and `backinstock targets release`: the restock rules and manual
releases from the command line, through the same functions the console calls (validated, audited)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from backinstock import releases, rules
from backinstock.settings import load_settings
from backinstock.store import open_store
from backinstock.store import rules as stored

SOURCE = "cli"


def _actor(options: argparse.Namespace) -> str:
    if options.actor:
        return options.actor
    try:
        return f"{getpass.getuser()}@cli"
    except (KeyError, OSError):
        return "unknown@cli"


def _value(text: str) -> Any:
    """A value as typed: JSON when it parses (5, 1.5, ["gid://..."]), else the text itself (manual)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def rules_command(options: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_store(settings)
    try:
        if options.rules_command == "list":
            return _list(engine, settings, options)
        now = settings.clock().now()
        change = {"actor": _actor(options), "now": now, "source": SOURCE, "reason": options.reason}
        where = {"shop": options.shop, "scope": options.scope, "scope_id": options.id}
        with engine.begin() as connection:
            if options.rules_command == "set":
                row = rules.set_rule(
                    connection, **where, name=options.name, value=_value(options.value), **change
                )
                print(f"set {rules.rule_key(row['shop'], row['scope'], row['scope_id'], row['name'])} = "
                      f"{_shown(row['value'])}")  # fmt: skip
            elif rules.clear_rule(connection, **where, name=options.name, **change):
                print(f"cleared {options.name} at {options.scope} {options.id or ''}".rstrip())
            else:
                print(f"nothing to clear: no {options.name} override at {options.scope} {options.id or ''}")
        return 0
    except rules.RuleError as error:
        print(f"backinstock rules {options.rules_command}: {error}", file=sys.stderr)
        return 2


def _list(engine, settings, options: argparse.Namespace) -> int:
    with engine.connect() as connection:
        if options.variant or options.product:
            if not options.shop:
                raise rules.RuleError("--shop is needed to show the rules in force")
            product = rules.validate_scope("product", options.product) if options.product else None
            variant = rules.validate_scope("variant", options.variant) if options.variant else None
            effective = rules.effective_rules(
                connection,
                settings.detection,
                shop=options.shop.lower(),
                product_id=product,
                variant_id=variant,
            )
            for name, value in rules.as_dict(effective).items():
                print(f"{name:<24}{_shown(value):<40}({effective.sources[name]})")
            return 0
        rows = stored.list_rules(connection, shop=options.shop.lower() if options.shop else None)
    defaults = rules.defaults(settings.detection)
    print("defaults (settings): " + ", ".join(f"{name}={_shown(value)}" for name, value in defaults.items()))
    for row in rows:
        key = rules.rule_key(row["shop"], row["scope"], row["scope_id"], row["name"])
        print(f"{key} = {_shown(row['value'])}  ({row['updated_by']}, {row['updated_at']:%Y-%m-%d %H:%M})")
    return 0


def targets_command(options: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_store(settings)
    try:
        with engine.begin() as connection:
            release_id = releases.release_held_targets(
                connection,
                shop=options.shop,
                product_id=options.product,
                actor=_actor(options),
                now=settings.clock().now(),
                source=SOURCE,
                reason=options.reason,
            )
    except rules.RuleError as error:
        print(f"backinstock targets release: {error}", file=sys.stderr)
        return 2
    print(f"release {release_id}: the targets {options.product} holds go out from the next cycle")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    scope_help = "shop (default), product or variant"
    command = commands.add_parser("rules", help="list, set and clear restock rules (shop, product, variant)")
    actions = command.add_subparsers(dest="rules_command", required=True)
    listing = actions.add_parser("list", help="the defaults and every override; or the rules in force")
    listing.add_argument("--shop")
    listing.add_argument("--product", help="with --shop: the rules in force for this product")
    listing.add_argument("--variant", help="with --shop (and --product): the rules in force for this variant")
    for verb in ("set", "clear"):
        change = actions.add_parser(verb, help=f"{verb} an override ({', '.join(rules.RULE_NAMES)})")
        change.add_argument("--shop", required=True)
        change.add_argument("--scope", default="shop", choices=rules.SCOPES, help=scope_help)
        change.add_argument("--id", help="the product or variant id (gid or number)")
        change.add_argument("name", choices=rules.RULE_NAMES)
        if verb == "set":
            change.add_argument("value", help='JSON or text: 3, 1.5, manual, ["gid://shopify/Location/1"]')
        change.add_argument("--reason")
        change.add_argument("--actor", help="who, for the audit log (default: this account @cli)")
    command.set_defaults(handler=rules_command)

    targets = commands.add_parser("targets", help="release what a manual-release product holds")
    target_actions = targets.add_subparsers(dest="targets_command", required=True)
    release = target_actions.add_parser("release", help="release the targets a product holds now")
    release.add_argument("--shop", required=True)
    release.add_argument("--product", required=True, help="the product id (gid or number)")
    release.add_argument("--reason")
    release.add_argument("--actor", help="who, for the audit log (default: this account @cli)")
    targets.set_defaults(handler=targets_command)
