"""`python -m simulator ...`: serve one world on loopback until stopped.

Prints `simulator ready on http://HOST:PORT` once the socket accepts requests (the schema is built and the
scenario planned before that).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from simulator.app import create_app
from simulator.instants import parse_instant
from simulator.scenario import SCENARIOS
from simulator.world import World, WorldConfig


def parse_arguments(argv: list[str] | None) -> tuple[argparse.Namespace, WorldConfig]:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=parse_instant, required=True, help="simulated start, ISO-8601")
    parser.add_argument("--days", type=float, default=4)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    parser.add_argument("--storefront-url", required=True)
    parser.add_argument("--shop-domain", required=True)
    parser.add_argument("--access-token", required=True)
    parser.add_argument("--webhook-secret", required=True)
    parser.add_argument("--sendgrid-key", required=True)
    parser.add_argument("--bucket-size", type=float, default=1000.0)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument("--provider-events-url", default=None, help="where the fake SendGrid posts events")
    options = parser.parse_args(argv)
    config = WorldConfig(
        seed=options.seed,
        start=options.start,
        days=options.days,
        scenario=options.scenario,
        storefront_url=options.storefront_url,
        shop_domain=options.shop_domain.strip().lower(),
        access_token=options.access_token,
        webhook_secret=options.webhook_secret,
        sendgrid_key=options.sendgrid_key,
        bucket_size=options.bucket_size,
        restore_rate=options.restore_rate,
        provider_events_url=options.provider_events_url,
    )
    return options, config


async def serve(server: uvicorn.Server, host: str, port: int) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"simulator ready on http://{host}:{port}", flush=True)
    await serving


def main(argv: list[str] | None = None) -> int:
    options, config = parse_arguments(argv)
    app = create_app(World(config))
    server = uvicorn.Server(
        uvicorn.Config(app, host=options.host, port=options.port, log_level="warning", access_log=False)
    )
    asyncio.run(serve(server, options.host, options.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
