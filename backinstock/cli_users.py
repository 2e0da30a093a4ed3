"""`backinstock user add|list|permissions|disable|enable`: the console's users from the command line, through
the same functions the console's users page calls (validated, audited as `cli:<account>`)."""

from __future__ import annotations

import argparse
import getpass
import sys

from backinstock.settings import load_settings
from backinstock.store import open_store, users
from backinstock.store.tables import PERMISSIONS


def _actor(options: argparse.Namespace) -> str:
    try:
        return getattr(options, "actor", None) or f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(options: argparse.Namespace) -> str:
    """From stdin with --password-stdin (scripts), else asked twice without echo."""
    if options.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {options.name}: ")
    if getpass.getpass("again: ") != first:
        raise users.UserError("the two passwords differ")
    return first


def _granted(options: argparse.Namespace) -> list[str]:
    return list(PERMISSIONS) if options.all_permissions else options.permission


def user_command(options: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_store(settings)
    now = settings.clock().now()
    change = {"actor": _actor(options), "now": now, "source": "cli"}
    try:
        if options.user_command == "list":
            with engine.connect() as connection:
                for user in users.all_users(connection):
                    state = " (disabled)" if user["disabled_at"] else ""
                    print(f"{user['name']:<32} {', '.join(user['permissions']) or '-'}{state}")
            return 0
        if options.user_command == "add":
            password = _password(options)
            with engine.begin() as connection:
                users.add_user(
                    connection, name=options.name, password=password, permissions=_granted(options), **change
                )
            granted = users.permissions_of(_granted(options))
            print(f"added {options.name}: {', '.join(granted) or 'no permissions'}")
        elif options.user_command == "permissions":
            with engine.begin() as connection:
                granted = users.set_permissions(
                    connection,
                    name=options.name,
                    permissions=_granted(options),
                    reason=options.reason,
                    **change,
                )
            print(f"{options.name}: {', '.join(granted) or 'no permissions'}")
        else:
            with engine.begin() as connection:
                users.set_disabled(
                    connection,
                    name=options.name,
                    disabled=options.user_command == "disable",
                    reason=options.reason,
                    **change,
                )
            print(f"{options.name}: {options.user_command}d")
        return 0
    except (users.UserError, LookupError) as refused:
        print(f"backinstock user {options.user_command}: {refused}", file=sys.stderr)
        return 2


def add_parsers(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("user", help="console users: add, list, permissions, disable, enable")
    actions = command.add_subparsers(dest="user_command", required=True)
    actions.add_parser("list", help="every user and its permissions")
    for verb, text in (("add", "a new user"), ("permissions", "replace a user's permissions")):
        action = actions.add_parser(verb, help=text)
        action.add_argument("name")
        action.add_argument(
            "--permission", action="append", default=[], choices=PERMISSIONS, help="repeat for each"
        )
        action.add_argument("--all-permissions", action="store_true")
        if verb == "add":
            action.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        else:
            action.add_argument("--reason")
        action.add_argument("--actor", help="who, for the audit log (default: cli:<this account>)")
    for verb in ("disable", "enable"):
        action = actions.add_parser(verb, help=f"{verb} a user (disabling ends its sessions)")
        action.add_argument("name")
        action.add_argument("--reason")
        action.add_argument("--actor", help="who, for the audit log (default: cli:<this account>)")
    command.set_defaults(handler=user_command)
