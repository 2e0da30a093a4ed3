"""A lane's connections in small pools (dispatch/providers/pools.py), against a real HTTP server on
loopback: the lane's concurrency is reached (no request waits for a busy pool while another is idle), no
pool opens more than its size, and every pool is free again once the answers are read. The server holds
every answer until the lane's whole concurrency is in flight at once, so what is checked does not depend
on how fast the machine is."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from own_loop import run_on_own_loop

from dispatch.providers.pools import POOL_CONNECTIONS, PooledTransport

CONCURRENCY = 2 * POOL_CONNECTIONS + 3
WAIT_SECONDS = 10  # the longest an answer is held for the lane's concurrency to be in flight


@pytest.fixture
def holding_server() -> Iterator[tuple[str, list[int], threading.Event]]:
    """Holds every POST until CONCURRENCY of them are in flight at once (the event says they were), then
    answers; records the client port (one per connection)."""
    ports: list[int] = []
    in_flight = [0]
    lock = threading.Lock()
    all_in_flight = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                ports.append(self.client_address[1])
                in_flight[0] += 1
                if in_flight[0] >= CONCURRENCY:
                    all_in_flight.set()
            all_in_flight.wait(WAIT_SECONDS)
            with lock:
                in_flight[0] -= 1
            self.send_response(202)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # every connection of the lane opens at once

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", ports, all_in_flight
    server.shutdown()
    server.server_close()


def test_requests_spread_over_small_pools_up_to_the_lane_concurrency(holding_server):
    url, ports, all_in_flight = holding_server

    async def main() -> list[int]:
        transport = PooledTransport(CONCURRENCY)
        async with httpx.AsyncClient(transport=transport, timeout=2 * WAIT_SECONDS) as client:
            answers = await asyncio.gather(*(client.post(url, json={}) for _ in range(2 * CONCURRENCY)))
            assert {answer.status_code for answer in answers} == {202}
            opened = [len(pool._pool.connections) for pool in transport.pools]
            assert transport.busy == [0] * len(transport.pools)
        return opened

    opened = run_on_own_loop(main())
    # A request waiting on a busy pool while another had room would have kept the lane below it.
    assert all_in_flight.is_set(), "the lane's concurrency was never in flight at once"
    assert opened == [POOL_CONNECTIONS, POOL_CONNECTIONS, 3]
    assert len(set(ports)) == CONCURRENCY  # every connection used, none more
