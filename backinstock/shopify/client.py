"""A Shopify Admin GraphQL client on httpx that paces itself and survives throttling.

- Versioned endpoint and `X-Shopify-Access-Token` header from the shop's settings.
- Pacing: every response carries `extensions.cost.throttleStatus`; before a query whose cost we have seen,
  wait until the leaky bucket holds enough points instead of being throttled first.
- Retries with exponential backoff and full jitter on THROTTLED (HTTP 200 or 429), 429, 5xx, timeouts and
  connection errors, honouring `Retry-After` up to a cap. 401/403 and GraphQL errors in the query are not
  retried.
- Bounded: every call has an overall deadline (pacing, attempts and waits together); a wait that would end
  past it is not started, the call fails instead.
- No blind retry of a mutation: it is retried only when Shopify certainly did not run it (the connection
  was never made, or Shopify answered THROTTLED/429); after a 5xx or a lost answer it may have been applied.
- Cursor pagination over any connection by its path in the response.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpx
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from backinstock.retry import full_jitter, retry_after_seconds
from backinstock.settings import ShopSettings

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ShopifyError(RuntimeError):
    """Shopify did not give us what we asked for."""


class ShopifyAuthError(ShopifyError):
    """401/403: the token is wrong or lacks a scope. Retrying cannot help."""


class ShopifyQueryError(ShopifyError):
    """The API answered with errors about the query itself."""


class ShopifyUnavailable(ShopifyError):
    """Still failing after every retry."""


@dataclass
class Bucket:
    """The shop's leaky bucket as last reported, and when we saw it."""

    maximum: float
    available: float
    restore_rate: float
    seen_at: float

    def available_at(self, moment: float) -> float:
        return min(self.maximum, self.available + (moment - self.seen_at) * self.restore_rate)


class ShopifyClient:
    def __init__(
        self,
        shop: ShopSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 60.0,
        deadline: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.shop = shop
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={
                "X-Shopify-Access-Token": shop.access_token.get_secret_value(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.deadline = deadline
        self.timeout = timeout
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self.bucket: Bucket | None = None
        self._known_costs: dict[str, float] = {}
        self.requests_sent = 0
        self.throttled_responses = 0

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one query and return its `data`, pacing and retrying as needed, within the call's deadline."""
        body = {"query": query, "variables": variables or {}}
        mutation = is_mutation(query)
        call = _Call(self, started=self._monotonic())
        last_problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            call.wait(self._pace_delay(query), "pacing")
            try:
                self.requests_sent += 1
                response = self._http.post(self.shop.graphql_url, json=body, timeout=call.timeout())
            except NEVER_SENT as problem:
                last_problem = f"{type(problem).__name__}: {problem}"
                call.before_retry(attempt, self._jitter(attempt), last_problem)
                continue
            except (httpx.TimeoutException, httpx.TransportError) as problem:
                last_problem = f"{type(problem).__name__}: {problem}"
                if mutation:
                    raise ShopifyUnavailable(_not_retried(self.shop.domain, last_problem)) from problem
                call.before_retry(attempt, self._jitter(attempt), last_problem)
                continue
            if response.status_code in (401, 403):
                raise ShopifyAuthError(
                    f"{response.status_code} from {self.shop.domain}: {response.text[:200]}"
                )
            payload = _json_or_none(response)
            if payload is not None:
                self._observe_cost(query, payload)
            if _is_throttled(response, payload):
                self.throttled_responses += 1
                last_problem = "throttled"
                call.before_retry(attempt, self._throttle_wait(query, response, attempt), last_problem)
                continue
            if response.status_code in RETRYABLE_STATUS or payload is None:
                last_problem = f"HTTP {response.status_code}"
                if mutation and response.status_code != 429:
                    raise ShopifyUnavailable(_not_retried(self.shop.domain, last_problem))
                hinted = self._hinted_wait(response)
                call.before_retry(attempt, max(self._jitter(attempt), hinted or 0.0), last_problem)
                continue
            if response.status_code != 200:
                raise ShopifyError(
                    f"HTTP {response.status_code} from {self.shop.domain}: {response.text[:200]}"
                )
            if payload.get("errors"):
                raise ShopifyQueryError(_error_text(payload["errors"]))
            return payload.get("data") or {}
        raise ShopifyUnavailable(
            f"{self.shop.domain}: gave up after {self.max_retries + 1} attempts ({last_problem})"
        )

    def paginate(
        self, query: str, variables: dict[str, Any], connection_path: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Every node of the connection at `connection_path` in `data`, page by page (`$after` cursor)."""
        after: str | None = None
        while True:
            data = self.execute(query, {**variables, "after": after})
            connection = _dig(data, connection_path)
            if connection is None:
                return
            yield from connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page["endCursor"]

    def _jitter(self, attempt: int) -> float:
        return full_jitter(
            attempt, base_seconds=self.backoff_base, cap_seconds=self.backoff_cap, draw=self._rng.random
        )

    def _pace_delay(self, query: str) -> float:
        """How long to wait before the query so that the bucket can afford it (0: go now)."""
        cost = self._known_costs.get(query)
        if self.bucket is None or cost is None or self.bucket.restore_rate <= 0:
            return 0.0
        short = cost - self.bucket.available_at(self._monotonic())
        return short / self.bucket.restore_rate if short > 0 else 0.0

    def _hinted_wait(self, response: httpx.Response) -> float | None:
        """The server's Retry-After, capped: a hint of days must not park the caller for days."""
        hinted = _hinted_wait(response)
        return None if hinted is None else min(hinted, self.max_retry_after)

    def _observe_cost(self, query: str, payload: dict[str, Any]) -> None:
        cost = (payload.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus")
        if cost.get("requestedQueryCost") is not None:
            self._known_costs[query] = float(cost["requestedQueryCost"])
        if status:
            self.bucket = Bucket(
                maximum=float(status["maximumAvailable"]),
                available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
                seen_at=self._monotonic(),
            )

    def _throttle_wait(self, query: str, response: httpx.Response, attempt: int) -> float:
        hinted = self._hinted_wait(response)
        jitter = self._jitter(attempt)
        cost = self._known_costs.get(query)
        if self.bucket and cost is not None and self.bucket.restore_rate > 0:
            refill = max(0.0, cost - self.bucket.available) / self.bucket.restore_rate
            return max(refill, hinted or 0.0) + jitter * 0.1
        return max(jitter, hinted or 0.0)


@dataclass
class _Call:
    """One `execute`: its deadline, and the waits it may still afford."""

    client: ShopifyClient
    started: float

    def remaining(self) -> float:
        return self.client.deadline - (self.client._monotonic() - self.started)

    def timeout(self) -> float:
        return max(min(self.client.timeout, self.remaining()), 0.001)

    def wait(self, delay: float, why: str) -> None:
        if delay <= 0:
            return
        if delay >= self.remaining():
            raise ShopifyUnavailable(
                f"{self.client.shop.domain}: {why} would wait {delay:.1f} s, past the call's "
                f"{self.client.deadline:.0f} s deadline"
            )
        self.client._sleep(delay)

    def before_retry(self, attempt: int, delay: float, problem: str) -> None:
        """Wait before the next attempt; after the last one there is nothing to wait for."""
        if attempt < self.client.max_retries:
            self.wait(delay, f"retrying after {problem}")


@lru_cache(maxsize=128)
def is_mutation(document: str) -> bool:
    """True when the document runs a mutation (a document that does not parse runs nothing)."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return False
    return any(
        isinstance(definition, OperationDefinitionNode) and definition.operation == OperationType.MUTATION
        for definition in parsed.definitions
    )


def _not_retried(domain: str, problem: str) -> str:
    return f"{domain}: {problem}; a mutation is not retried blindly (Shopify may have applied it)"


def _hinted_wait(response: httpx.Response) -> float | None:
    """The server's Retry-After; waits are slept in real time, so it is read against the wall clock."""
    return retry_after_seconds(response.headers.get("Retry-After"), datetime.now(UTC))


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _is_throttled(response: httpx.Response, payload: dict[str, Any] | None) -> bool:
    errors = (payload or {}).get("errors") or []
    coded = any(
        isinstance(error, dict) and (error.get("extensions") or {}).get("code") == "THROTTLED"
        for error in errors
    )
    return coded or (response.status_code == 429 and payload is not None and bool(errors))


def _error_text(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(error.get("message", error)) if isinstance(error, dict) else str(error) for error in errors
        )
    return str(errors)


def _dig(data: dict[str, Any], path: Sequence[str]) -> dict[str, Any] | None:
    node: Any = data
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
