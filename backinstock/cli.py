"""The `backinstock` command: demo, migrate, serve, dispatch, replay, lanes, rules, targets, user.

The spine imports none of the other packages: `demo`, `serve` and `dispatch` start them as processes
(`python -m orchestration.demo`, `python -m storefront`, `python -m dashboards`,
`python -m orchestration.dev`, `python -m dispatch`).
`replay` and `lanes resume` call the same spine functions as the console, audited with the actor and
`source = "cli"`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import subprocess
import sys

from backinstock import cli_privacy, cli_rules, cli_users
from backinstock.clock import format_instant
from backinstock.settings import load_settings
from backinstock.store import jobs, lanes, open_store


def _migrate(_options: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_store(settings)
    with engine.connect() as connection:
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    print(f"operational store at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")
    return 0


def _serve(options: argparse.Namespace) -> int:
    """The storefront app, the console and, unless told not to, Dagster's UI and daemon (`dagster dev`)."""
    _migrate(options)
    storefront = [sys.executable, "-m", "storefront", "--workers", str(options.storefront_workers)]
    commands = [storefront, [sys.executable, "-m", "dashboards"]]
    if not options.no_dagster:
        commands.append([sys.executable, "-m", "orchestration.dev", "--port", str(options.dagster_port)])
    processes = [subprocess.Popen(command, env=os.environ.copy()) for command in commands]
    try:
        while all(process.poll() is None for process in processes):
            try:
                processes[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
    return max((process.returncode or 0) for process in processes)


def _actor(options: argparse.Namespace) -> str:
    return options.actor or f"{getpass.getuser()}@{socket.gethostname()}"


def _replay(options: argparse.Namespace) -> int:
    """Dead-letter and held jobs back to pending: one job, a filter, or all; audited."""
    settings = load_settings()
    engine = open_store(settings)
    try:
        with engine.begin() as connection:
            replayed = jobs.replay(
                connection,
                actor=_actor(options),
                now=settings.clock().now(),
                reason=options.reason,
                source="cli",
                job_id=options.job,
                lane=options.lane,
                error_class=options.error_class,
                restock_event_id=options.restock_event,
                status=options.status,
                everything=options.all,
            )
    except ValueError as refused:
        print(f"backinstock replay: {refused}", file=sys.stderr)
        return 2
    print(f"replayed {len(replayed)} job(s){': ' if replayed else ''}{', '.join(map(str, replayed[:50]))}")
    return 0


def _lanes(options: argparse.Namespace) -> int:
    """List the lanes and their state, or resume one (audited)."""
    settings = load_settings()
    engine = open_store(settings)
    if options.resume:
        if not options.reason:
            print("backinstock lanes --resume: give a --reason", file=sys.stderr)
            return 2
        try:
            with engine.begin() as connection:
                lanes.resume(
                    connection,
                    options.resume,
                    actor=_actor(options),
                    now=settings.clock().now(),
                    reason=options.reason,
                    source="cli",
                )
        except LookupError as missing:
            print(f"backinstock lanes: {missing}", file=sys.stderr)
            return 2
    now = settings.clock().now()
    with engine.connect() as connection:
        rows = lanes.all_lanes(connection)
    for row in rows:
        if row["stopped_at"] is not None:
            state = f"stopped since {format_instant(row['stopped_at'])}: {row['stopped_reason']}"
        elif row["paused_until"] is not None and row["paused_until"] > now:
            state = f"paused until {format_instant(row['paused_until'])}: {row['pause_reason']}"
        else:
            state = "open"
        rate = f"{row['rate_per_second']:g}/s" if row["rate_per_second"] else "unlimited"
        print(f"{row['name']:<20} {row['provider']:<9} {row['channel']:<6} {rate:<10} {state}")
    if not rows:
        print("no lanes yet: a dispatcher writes them when it starts")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backinstock", description="Back-in-stock alerts for Shopify.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="run the whole product on a simulated store and print KPIs beside ground truth",
        add_help=False,
    )
    commands.add_parser("migrate", help="apply the operational store's migrations")
    serve = commands.add_parser("serve", help="run the storefront app, the console and Dagster's UI")
    serve.add_argument("--no-dagster", action="store_true", help="only the storefront app and the console")
    serve.add_argument("--dagster-port", type=int, default=3000)
    serve.add_argument(
        "--storefront-workers", type=int, default=1, help="storefront processes (rate limits are shared)"
    )
    commands.add_parser("dispatch", help="run a dispatcher for a bounded time (see --help)", add_help=False)
    replay = commands.add_parser("replay", help="send dead-letter or held jobs again (audited)")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", type=int, help="one job by id")
    which.add_argument("--all", action="store_true", help="every dead-letter and held job (or --status)")
    which.add_argument("--lane", help="the jobs of one lane")
    which.add_argument("--error-class", help="e.g. template, unknown, transient, rate_limited")
    which.add_argument("--restock-event", help="the jobs of one restock event")
    replay.add_argument("--status", choices=jobs.REPLAYABLE, help="only dead_letter or only held jobs")
    replay.add_argument("--reason", required=True, help="why (kept in the audit log)")
    replay.add_argument("--actor", help="who (default: user@host)")
    lane_command = commands.add_parser("lanes", help="show the provider lanes, or resume one (audited)")
    lane_command.add_argument("--resume", metavar="LANE", help="resume a stopped or paused lane")
    lane_command.add_argument("--reason", help="why (kept in the audit log)")
    lane_command.add_argument("--actor", help="who (default: user@host)")
    cli_rules.add_parsers(commands)
    cli_users.add_parsers(commands)
    cli_privacy.add_parsers(commands)
    options, rest = parser.parse_known_args(argv)
    if options.command == "demo":
        return subprocess.call([sys.executable, "-m", "orchestration.demo", *rest])
    if options.command == "dispatch":
        return subprocess.call([sys.executable, "-m", "dispatch", *rest])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if hasattr(options, "handler"):
        return options.handler(options)
    return {"migrate": _migrate, "serve": _serve, "replay": _replay, "lanes": _lanes}[options.command](
        options
    )


if __name__ == "__main__":
    sys.exit(main())
