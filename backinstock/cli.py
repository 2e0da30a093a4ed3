"""The `backinstock` command: demo, migrate, serve.

The spine imports none of the other packages: `demo` and `serve` start them as processes
(`python -m orchestration.demo`, `python -m storefront`, `python -m orchestration.dev`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from backinstock.settings import load_settings
from backinstock.store import open_store


def _migrate(_options: argparse.Namespace) -> int:
    settings = load_settings()
    engine = open_store(settings)
    with engine.connect() as connection:
        revision = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    print(f"operational store at {engine.url.render_as_string(hide_password=True)} is at revision {revision}")
    return 0


def _serve(options: argparse.Namespace) -> int:
    """The storefront app and, unless told not to, Dagster's UI and daemon (`dagster dev`)."""
    _migrate(options)
    commands = [[sys.executable, "-m", "storefront"]]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backinstock", description="Back-in-stock alerts for Shopify.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo",
        help="run the whole product on a simulated store and print KPIs beside ground truth",
        add_help=False,
    )
    commands.add_parser("migrate", help="apply the operational store's migrations")
    serve = commands.add_parser("serve", help="run the storefront app and Dagster's UI")
    serve.add_argument("--no-dagster", action="store_true", help="only the storefront app")
    serve.add_argument("--dagster-port", type=int, default=3000)
    options, rest = parser.parse_known_args(argv)
    if options.command == "demo":
        return subprocess.call([sys.executable, "-m", "orchestration.demo", *rest])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return {"migrate": _migrate, "serve": _serve}[options.command](options)


if __name__ == "__main__":
    sys.exit(main())
