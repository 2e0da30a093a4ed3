"""`python -m orchestration.dev`: Dagster's UI and daemon on this code location, telemetry off."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from backinstock.settings import load_settings
from orchestration.instance import prepare_dagster_home

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"  # the code location `back_in_stock`


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.dev")
    parser.add_argument("--port", type=int, default=3000)
    options = parser.parse_args(argv)
    settings = load_settings()
    home = os.environ.get("DAGSTER_HOME") or str(prepare_dagster_home(settings.data_dir / "dagster_home"))
    os.environ["DAGSTER_HOME"] = home
    os.environ.setdefault("DO_NOT_TRACK", "1")
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    os.execv(dagster, [dagster, "dev", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(options.port)])


if __name__ == "__main__":
    main()
