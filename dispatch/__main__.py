"""`python -m dispatch` (what `backinstock dispatch` starts): one dispatcher for a bounded time, then its
report as JSON on stdout. SIGTERM or Ctrl-C stop it gracefully: no new sends, answers recorded, unsent
jobs given back."""

from __future__ import annotations

import argparse
import json
import sys

from backinstock.settings import load_settings
from backinstock.store import open_store
from dispatch.worker import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backinstock dispatch", description=__doc__.splitlines()[0])
    parser.add_argument("--for-seconds", type=float, default=None, help="run this long (default: settings)")
    parser.add_argument("--until-idle", action="store_true", help="stop as soon as nothing is due")
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--lane", action="append", default=[], help="only this lane (repeatable)")
    options = parser.parse_args(argv)
    settings = load_settings()
    engine = open_store(settings)
    report = run(
        engine,
        settings,
        for_seconds=options.for_seconds,
        worker_id=options.worker_id,
        until_idle=options.until_idle,
        lane_names=options.lane,
    )
    print(json.dumps(report.as_metadata(), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
