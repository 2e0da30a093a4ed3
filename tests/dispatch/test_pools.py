"""A lane's connections in small pools (dispatch/providers/pools.py), against a real HTTP server on
loopback: the lane's concurrency is reached (no request waits for a busy pool while another is idle), no
pool opens more than its size, and every pool is free again once the answers are read."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from dispatch.providers.pools import POOL_CONNECTIONS, PooledTransport

ANSWER_SECONDS = 0.3


@pytest.fixture
def slow_server() -> Iterator[tuple[str, list[int]]]:
    """Answers every POST after ANSWER_SECONDS; records the client port (one per connection)."""
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            ports.append(self.client_address[1])
            time.sleep(ANSWER_SECONDS)
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
    yield f"http://127.0.0.1:{server.server_address[1]}", ports
    server.shutdown()
    server.server_close()


def test_requests_spread_over_small_pools_up_to_the_lane_concurrency(slow_server):
    url, ports = slow_server
    concurrency = 2 * POOL_CONNECTIONS + 3

    async def main() -> tuple[float, list[int]]:
        transport = PooledTransport(concurrency)
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            started = time.perf_counter()
            answers = await asyncio.gather(*(client.post(url, json={}) for _ in range(2 * concurrency)))
            assert {answer.status_code for answer in answers} == {202}
            spent = time.perf_counter() - started
            opened = [len(pool._pool.connections) for pool in transport.pools]
            assert transport.busy == [0] * len(transport.pools)
        return spent, opened

    # Its own thread and loop, as dispatch.worker.run does: the session's Playwright (sync API) keeps an
    # event loop running in the test thread once a browser test has run on this worker.
    with ThreadPoolExecutor(max_workers=1) as thread:
        spent, opened = thread.submit(asyncio.run, main()).result()
    assert opened == [POOL_CONNECTIONS, POOL_CONNECTIONS, 3]
    assert len(set(ports)) == concurrency  # every connection used, none more
    # Two rounds of `concurrency` requests at once: a request waiting on a busy pool would add a round.
    assert spent < 3 * ANSWER_SECONDS, spent
