"""Screenshots of the Dagster UI on a real run history, taken with headless Debian Chromium.

It plays the small simulated store for half a day, runs the alerts, dispatch, analytics and data quality
paths in process (a persistent instance), then runs analytics with a KPI model broken (`kpi_daily`, in a
copy of the dbt project), lets the run-failure sensor raise its alert (sent to the simulator's webhook),
starts `dagster-webserver` on that instance and saves, under docs/screenshots/:
- asset_graph.png: the global asset lineage, groups left to right;
- asset_page.png: an asset's page with its row count, column schema and checks;
- failed_run_alert.png: the failed analytics run, and failed_run_webhook.png: the alert as the webhook got it.

    uv run python docs/screenshots/take_dagster_screenshots.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backinstock.chromium import CHROMIUM, launch  # noqa: E402
from backinstock.clock import format_instant  # noqa: E402
from orchestration.alert_sensors import operations_alerts  # noqa: E402
from orchestration.demo import DemoPlan, DemoWorld, free_port  # noqa: E402
from orchestration.instance import prepare_dagster_home  # noqa: E402
from orchestration.jobs import run_config, run_tags  # noqa: E402
from tests.orchestration.launching import (  # noqa: E402
    advance_to,
    definitions_with_a_broken_kpi_model,
    evaluate_run_failure_alert,
)

OUT = Path(__file__).resolve().parent


def run_paths(world: DemoWorld, instance: dg.DagsterInstance, work: Path) -> str:
    """History for the UI: every path once, then a failed analytics run and its alert; returns its run id."""
    from orchestration.definitions import defs

    def run(job: str, as_of, dispatch: dict | None = None, definitions=defs) -> dg.ExecuteInProcessResult:
        instant = format_instant(as_of)
        return definitions.resolve_job_def(job).execute_in_process(
            run_config=run_config(instant, str(world.config_file), dispatch=dispatch),
            instance=instance,
            tags=run_tags("screenshots", instant),
            raise_on_error=False,
        )

    start = world.plan.start
    advance_to(world, start + timedelta(hours=12))
    run("alerts", start + timedelta(hours=12))
    run("dispatch", start + timedelta(hours=12), {"until_idle": True})
    run("analytics", start + timedelta(hours=12))
    run("data_quality", start + timedelta(hours=12))
    advance_to(world, start + timedelta(hours=18))
    run("alerts", start + timedelta(hours=18))
    run("dispatch", start + timedelta(hours=18), {"until_idle": True})
    broken = definitions_with_a_broken_kpi_model(work)
    failed = run("analytics", start + timedelta(hours=18), definitions=broken)
    evaluate_run_failure_alert(instance, failed.run_id)
    operations_alerts(dg.build_sensor_context(instance=instance))
    return failed.run_id


def wait_for(url: str, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1.0)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def shoot(chromium: str, base: str, failed_run_id: str, simulator_url: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})

        def capture(url: str, name: str, ready: str, settle: float = 5.0) -> None:
            # Not "network idle": the UI polls for as long as it is open.
            page.goto(url, wait_until="domcontentloaded", timeout=180_000)
            try:
                page.get_by_text(ready).first.wait_for(timeout=120_000)
            except PlaywrightTimeout:  # a zoomed-out graph draws no labels: shoot what is there
                print(f"{name}: no {ready!r} on the page after 120 s")
            time.sleep(settle)  # the graph lays itself out after its data arrives
            skip = page.get_by_role("button", name="Skip")  # the UI's first-visit newsletter dialog
            if skip.count():
                skip.first.click()
                time.sleep(1.0)
            page.screenshot(path=str(OUT / name))
            print(f"saved {OUT / name}")

        capture(f"{base}/asset-groups", "asset_graph.png", "marts", settle=15.0)
        capture(f"{base}/assets/raw_shopify/inventory_levels", "asset_page.png", "inventory_levels")
        capture(f"{base}/runs/{failed_run_id}", "failed_run_alert.png", "analytics")
        page.goto(f"{simulator_url}/_sim/alerts")
        page.screenshot(path=str(OUT / "failed_run_webhook.png"))
        print(f"saved {OUT / 'failed_run_webhook.png'}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default=CHROMIUM)
    options = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    with tempfile.TemporaryDirectory() as folder:
        plan = DemoPlan(Path(folder) / "data", "small", 11, days=1)
        with DemoWorld(plan) as world:
            with world.config_file.open("a") as settings:
                settings.write(f'\n[alerts]\nwebhook_url = "{world.simulator_url}/_sim/alerts"\n')
            os.environ["BACKINSTOCK_CONFIG"] = str(world.config_file)
            home = prepare_dagster_home(Path(folder) / "dagster_home")
            with dg.DagsterInstance.from_config(str(home)) as instance:
                failed_run_id = run_paths(world, instance, Path(folder))
            port = free_port()
            webserver = str(Path(sys.executable).with_name("dagster-webserver"))
            environment = {**os.environ, "DAGSTER_HOME": str(home)}
            server = subprocess.Popen(
                [webserver, "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                wait_for(f"{base}/server_info")
                shoot(options.chromium, base, failed_run_id, world.simulator_url)
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
