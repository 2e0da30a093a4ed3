"""A lane's HTTP calls (dispatch/providers/transport.py) against real servers on loopback: the lane's whole
concurrency in flight and never a connection more; requests and answers intact (headers, JSON and form
bodies, a gzip answer decoded, basic auth); and each way a call can fail sorted by `base.post` the way the
exactly-once rules need: never sent -> transient, maybe sent -> unknown. The servers hold answers on
events, not on the machine's speed."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from own_loop import run_on_own_loop

from dispatch.classify import TRANSIENT, UNKNOWN
from dispatch.providers.base import ProviderResult, post
from dispatch.providers.transport import LaneHttp, basic_auth

CONCURRENCY = 11
WAIT_SECONDS = 10  # the longest an answer is held for the lane's concurrency to be in flight


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # every connection of the lane opens at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers["Content-Length"]))


@pytest.fixture
def holding_server() -> Iterator[tuple[str, list[int], threading.Event]]:
    """Holds every POST until CONCURRENCY of them are in flight at once (the event says they were), then
    answers; records the client port (one per connection)."""
    ports: list[int] = []
    in_flight = [0]
    lock = threading.Lock()
    all_in_flight = threading.Event()

    class Handler(Quiet):
        def do_POST(self) -> None:
            self.read_body()
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

    for url in serve(Handler):
        yield url, ports, all_in_flight


def test_the_lane_concurrency_is_in_flight_and_never_a_connection_more(holding_server):
    url, ports, all_in_flight = holding_server

    async def main() -> set[int]:
        client = LaneHttp(CONCURRENCY, 2 * WAIT_SECONDS)
        try:
            answers = await asyncio.gather(*(client.post(url, json={}) for _ in range(2 * CONCURRENCY)))
        finally:
            await client.aclose()
        return {answer.status_code for answer in answers}

    assert run_on_own_loop(main()) == {202}
    assert all_in_flight.is_set(), "the lane's concurrency was never in flight at once"
    assert len(set(ports)) == CONCURRENCY  # every connection used, kept alive, none more


@pytest.fixture
def echo_server() -> Iterator[str]:
    """Answers 429 with the request's headers and body (as text) echoed, gzip-encoded, and a Retry-After."""

    class Handler(Quiet):
        def do_POST(self) -> None:
            echoed = {"headers": dict(self.headers.items()), "body": self.read_body().decode()}
            content = gzip.compress(json.dumps(echoed).encode())
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    yield from serve(Handler)


def echoed(url: str, **request) -> tuple[httpx.Response, str, dict[str, str]]:
    async def main() -> httpx.Response:
        client = LaneHttp(2, 5)
        try:
            return await client.post(url, **request)
        finally:
            await client.aclose()

    answer = run_on_own_loop(main())
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    echo = answer.json()  # the gzip body decoded
    return answer, echo["body"], {name.lower(): value for name, value in echo["headers"].items()}


def test_a_json_request_and_its_answer_pass_through_intact(echo_server):
    body = {"to": "ünïcode@example.com", "text": "x" * 5000}
    _, sent, headers = echoed(echo_server, json=body, headers={"Authorization": "Bearer key-1"})
    assert json.loads(sent) == body
    assert headers["authorization"] == "Bearer key-1"
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(sent.encode())
    assert headers["user-agent"] == "backinstock-dispatch"


def test_a_form_request_with_basic_auth(echo_server):
    form = {"To": "+15005550006", "Body": "Tee & co: back ✓"}
    auth = {"Authorization": basic_auth("AC123", "s3cret")}
    _, sent, headers = echoed(echo_server, data=form, headers=auth)
    assert parse_qs(sent) == {name: [value] for name, value in form.items()}
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["authorization"] == "Basic " + base64.b64encode(b"AC123:s3cret").decode()


def outcome(url: str, *, timeout: float, connections: int = 2, first: str | None = None) -> ProviderResult:
    """`base.post` through the transport; `first` is posted (and left waiting longer than `timeout`) before
    the call judged."""

    async def main() -> ProviderResult:
        client = LaneHttp(connections, timeout)
        try:
            holder = asyncio.ensure_future(post(client, first, timeout=WAIT_SECONDS)) if first else None
            if holder:
                await asyncio.sleep(0.2)  # the one connection is taken
            result = await post(client, url, json={"n": 1})
            if holder:
                await holder
        finally:
            await client.aclose()
        assert isinstance(result, ProviderResult), result
        return result

    return run_on_own_loop(main())


def test_a_refused_connection_was_never_sent():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = outcome(f"http://127.0.0.1:{port}/", timeout=2)
    assert result.outcome == TRANSIENT
    assert result.error.startswith("not sent: ConnectError")


@pytest.fixture
def silent_server() -> Iterator[tuple[str, threading.Event]]:
    """Reads each request and answers only when released; `/drop` closes the connection instead."""
    release = threading.Event()

    class Handler(Quiet):
        def do_POST(self) -> None:
            self.read_body()
            if self.path == "/drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            release.wait(WAIT_SECONDS)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    for url in serve(Handler):
        yield url, release
        release.set()


def test_no_answer_in_time_may_have_been_sent(silent_server):
    url, _ = silent_server
    result = outcome(f"{url}/wait", timeout=0.5)
    assert result.outcome == UNKNOWN
    assert result.error.startswith("no answer: ReadTimeout")


def test_a_connection_dropped_after_the_request_may_have_been_sent(silent_server):
    url, _ = silent_server
    result = outcome(f"{url}/drop", timeout=5)
    assert result.outcome == UNKNOWN
    assert result.error.startswith("no answer: RemoteProtocolError")


def test_no_free_connection_in_time_was_never_sent(silent_server):
    url, release = silent_server
    threading.Timer(2.0, release.set).start()  # the held request is answered after the judged one gave up
    result = outcome(f"{url}/wait", timeout=0.5, connections=1, first=f"{url}/hold")
    assert result.outcome == TRANSIENT
    assert result.error.startswith("not sent: ConnectTimeout")
