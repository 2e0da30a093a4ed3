"""The Shopify client's retry, pacing and pagination, against a real HTTP server on loopback that answers
from a script (the simulator covers the happy path and real throttling; here each failure mode is forced)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from backinstock.retry import retry_after_seconds
from backinstock.settings import ShopSettings
from backinstock.shopify.client import (
    ShopifyAuthError,
    ShopifyClient,
    ShopifyQueryError,
    ShopifyUnavailable,
    is_mutation,
)


def cost(requested=10, available=990, restore=50.0):
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": 1000,
                "currentlyAvailable": available,
                "restoreRate": restore,
            },
        }
    }


def ok(data, **cost_args):
    return 200, {}, {"data": data, "extensions": cost(**cost_args)}


class ScriptedShopify:
    """Answers each POST with the next scripted (status, headers, body, delay) and records the request."""

    def __init__(self):
        self.script: deque = deque()
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                status, headers, payload, *delay = outer.script.popleft()
                if delay:
                    time.sleep(delay[0])
                encoded = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):
                    self.wfile.write(encoded)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def shopify():
    server = ScriptedShopify()
    yield server
    server.server.shutdown()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(shopify, sleeps):
    shop = ShopSettings(domain="test.myshopify.com", access_token="shpat_x", admin_api_url=shopify.url)
    with ShopifyClient(shop, timeout=0.5, max_retries=3, sleep=sleeps.append) as client:
        yield client


def test_request_goes_to_the_versioned_endpoint_with_the_token(shopify, client):
    shopify.script.append(ok({"shop": {"id": "gid://shopify/Shop/1"}}))
    assert client.execute("{ shop { id } }") == {"shop": {"id": "gid://shopify/Shop/1"}}
    request = shopify.requests[0]
    assert request["path"] == "/admin/api/2026-10/graphql.json"
    assert request["headers"]["X-Shopify-Access-Token"] == "shpat_x"


def test_server_errors_are_retried_with_backoff(shopify, client, sleeps):
    shopify.script.extend(
        [(503, {}, {"errors": "unavailable"}), (502, {}, b"<html>bad gateway</html>"), ok({"x": 1})]
    )
    assert client.execute("{ x }") == {"x": 1}
    assert len(shopify.requests) == 3
    assert len(sleeps) == 2


def test_429_honours_retry_after(shopify, client, sleeps):
    shopify.script.extend(
        [(429, {"Retry-After": "7"}, {"errors": "Exceeded 2 calls per second"}), ok({"x": 1})]
    )
    assert client.execute("{ x }") == {"x": 1}
    assert sleeps[0] >= 7


def test_throttled_answer_waits_for_the_bucket_to_refill(shopify, client, sleeps):
    throttled = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
        "extensions": cost(requested=500, available=100, restore=100.0),
    }
    shopify.script.extend([(200, {}, throttled), ok({"x": 1})])
    assert client.execute("{ x }") == {"x": 1}
    assert client.throttled_responses == 1
    assert sleeps[0] >= (500 - 100) / 100.0


def test_pacing_waits_before_a_query_the_bucket_cannot_afford(shopify, sleeps):
    shop = ShopSettings(domain="test.myshopify.com", access_token="t", admin_api_url=shopify.url)
    with ShopifyClient(shop, sleep=sleeps.append, monotonic=lambda: 0.0) as client:
        shopify.script.extend([ok({"x": 1}, requested=100, available=10, restore=50.0), ok({"x": 2})])
        client.execute("{ x }")
        client.execute("{ x }")
    assert sleeps == [pytest.approx((100 - 10) / 50.0)]


def test_auth_errors_are_not_retried(shopify, client):
    shopify.script.append((401, {}, {"errors": "[API] Invalid API key or access token"}))
    with pytest.raises(ShopifyAuthError):
        client.execute("{ x }")
    assert len(shopify.requests) == 1


def test_query_errors_are_not_retried(shopify, client):
    shopify.script.append(
        (200, {}, {"errors": [{"message": "Field 'nope' doesn't exist on type 'QueryRoot'"}]})
    )
    with pytest.raises(ShopifyQueryError, match="nope"):
        client.execute("{ nope }")
    assert len(shopify.requests) == 1


def test_timeouts_are_retried_then_given_up(shopify, client, sleeps):
    shopify.script.extend([(200, {}, {"data": {}}, 1.0)] * 4)
    with pytest.raises(ShopifyUnavailable, match="4 attempts"):
        client.execute("{ x }")
    assert len(shopify.requests) == 4
    assert len(sleeps) == 3


def test_pagination_follows_cursors(shopify, client):
    page = lambda ids, more, cursor: ok(  # noqa: E731
        {
            "things": {
                "nodes": [{"id": i} for i in ids],
                "pageInfo": {"hasNextPage": more, "endCursor": cursor},
            }
        }
    )
    shopify.script.extend([page([1, 2], True, "c1"), page([3], False, None)])
    assert [node["id"] for node in client.paginate("q", {"query": None}, ("things",))] == [1, 2, 3]
    assert [request["body"]["variables"]["after"] for request in shopify.requests] == [None, "c1"]


def test_retry_after_reads_both_forms():
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now) == 3
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now) == 10
    assert retry_after_seconds("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0  # a moment already past
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("soon", now) is None


def test_retry_after_refuses_non_finite_values():
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for value in ("inf", "Infinity", "nan", "1e999", "-inf"):
        assert retry_after_seconds(value, now) is None
    assert retry_after_seconds("-5", now) == 0


class FakeTime:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self):
        return self.now


def bounded_client(shopify, time_, **options):
    shop = ShopSettings(domain="test.myshopify.com", access_token="t", admin_api_url=shopify.url)
    return ShopifyClient(shop, sleep=time_.sleep, monotonic=time_.monotonic, timeout=0.5, **options)


def test_a_huge_retry_after_is_capped(shopify):
    time_ = FakeTime()
    shopify.script.extend([(429, {"Retry-After": "864000"}, {"errors": "slow down"}), ok({"x": 1})])
    with bounded_client(shopify, time_, max_retry_after=60.0) as client:
        assert client.execute("{ x }") == {"x": 1}
    assert time_.sleeps == [60.0]


def test_each_call_has_a_deadline(shopify):
    """Waits that would end past the deadline are not started: the call fails, it does not hang."""
    time_ = FakeTime()
    shopify.script.extend([(503, {"Retry-After": "50"}, {"errors": "down"})] * 10)
    with (
        bounded_client(shopify, time_, deadline=120.0, max_retries=9) as client,
        pytest.raises(ShopifyUnavailable, match="deadline"),
    ):
        client.execute("{ x }")
    assert sum(time_.sleeps) < 120.0
    assert len(shopify.requests) == 3  # waits of 50 s at 0 and 50; the third would end at 150


def test_pacing_that_would_outlast_the_deadline_fails_at_once(shopify):
    time_ = FakeTime()
    shopify.script.append(ok({"x": 1}, requested=900, available=0, restore=1.0))
    with bounded_client(shopify, time_, deadline=60.0) as client:
        client.execute("{ x }")
        with pytest.raises(ShopifyUnavailable, match="pacing"):
            client.execute("{ x }")
    assert len(shopify.requests) == 1 and time_.sleeps == []


MUTATION = 'mutation Run { bulkOperationRunQuery(query: "{ shop { id } }") { bulkOperation { id } } }'


def test_a_mutation_is_not_retried_after_a_server_error_or_a_lost_answer(shopify, client):
    shopify.script.append((503, {}, {"errors": "unavailable"}))
    with pytest.raises(ShopifyUnavailable, match="mutation is not retried"):
        client.execute(MUTATION)
    shopify.script.append((200, {}, {"data": {}}, 1.0))  # answered after the client's 0.5 s timeout
    with pytest.raises(ShopifyUnavailable, match="mutation is not retried"):
        client.execute(MUTATION)
    assert len(shopify.requests) == 2


def test_a_mutation_is_retried_when_shopify_certainly_did_not_run_it(shopify, client, sleeps):
    throttled = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}
    shopify.script.extend(
        [(200, {}, throttled), (429, {"Retry-After": "1"}, {"errors": "slow"}), ok({"done": True})]
    )
    assert client.execute(MUTATION) == {"done": True}
    assert len(shopify.requests) == 3


def test_a_mutation_is_retried_when_the_connection_was_never_made(sleeps):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    shop = ShopSettings(domain="t.myshopify.com", access_token="t", admin_api_url=f"http://127.0.0.1:{port}")
    with (
        ShopifyClient(shop, max_retries=2, sleep=sleeps.append) as client,
        pytest.raises(ShopifyUnavailable, match="3 attempts"),
    ):
        client.execute(MUTATION)
    assert len(sleeps) == 2


def test_documents_are_told_apart():
    assert is_mutation(MUTATION)
    assert not is_mutation("{ shop { id } }")
    assert not is_mutation("query Q { shop { id } }")
    assert not is_mutation("not graphql at all {")
