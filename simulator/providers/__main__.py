"""`python -m simulator.providers --port P --config JSON`: serve the provider fakes alone, on real time.

Prints `providers ready on http://127.0.0.1:P` once it serves (and `smtp relay on 127.0.0.1:S cert FILE`
when the config has an `smtp` account)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from simulator.providers.accounts import Faults
from simulator.providers.hub import ProviderHub, real_now
from simulator.providers.smtp import SmtpRelay
from simulator.providers.standalone import EventPoster, _SmtpFront, build_hub


async def serve(server: uvicorn.Server, port: int) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"providers ready on http://127.0.0.1:{port}", flush=True)
    await serving


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator.providers", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True, help="JSON, or @file")
    options = parser.parse_args(argv)
    text = Path(options.config[1:]).read_text() if options.config.startswith("@") else options.config
    config = json.loads(text)
    hub = build_hub(config, ProviderHub(clock=real_now, schedule=EventPoster(real_now)))
    relay = None
    if "smtp" in config:
        account = hub.add(_SmtpFront(), Faults(**(config["smtp"].get("faults") or {})))
        relay = SmtpRelay(account, username=config["smtp"]["username"], password=config["smtp"]["password"])
        relay.__enter__()
        print(f"smtp relay on {relay.host}:{relay.port} cert {relay.cert_file}", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=hub.routes()),
            host="127.0.0.1",
            port=options.port,
            log_level="warning",
            access_log=False,
        )
    )
    try:
        asyncio.run(serve(server, options.port))
    finally:
        if relay is not None:
            relay.__exit__()
    return 0


if __name__ == "__main__":
    sys.exit(main())
