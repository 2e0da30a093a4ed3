"""A lane's HTTP calls: httpx's responses and errors, sent on aiohttp's connection pool.

The providers read httpx responses and `base.post` sorts httpx's errors into "never sent" and "maybe
sent". Sending through `httpx.AsyncClient` cost ~650 us of CPU a request on this machine (its transport,
httpcore/h11/anyio, ~400; the client's request building, auth and redirect flows and cookie handling ~250,
none of which a provider call uses) against ~90 us for aiohttp's C-parsed pool: at a lane's full speed it
was most of the dispatcher's CPU. So a lane posts through one aiohttp session, with the lane's concurrency
as its limit, and gets back an `httpx.Response`; aiohttp's failures are translated into the httpx errors
of the same meaning, so the distinction the exactly-once rules rest on holds: only a failure before the
request went out (no connection, no free connection in time) is a `ConnectError`/`ConnectTimeout`;
anything after it is a read, protocol or network error."""

from __future__ import annotations

import json as jsonlib
from base64 import b64encode
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

HEADERS = {"User-Agent": "backinstock-dispatch", "Accept": "*/*", "Accept-Encoding": "gzip, deflate"}


def basic_auth(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()


def _body(json: Any, data: Mapping[str, Any] | None, content: bytes | None) -> tuple[bytes, str | None]:
    """The request body and its Content-Type, encoded as httpx encodes them."""
    if json is not None:
        text = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode(), "application/json"
    if data is not None:
        return urlencode(data, doseq=True).encode(), "application/x-www-form-urlencoded"
    return content or b"", None


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_connect=seconds, sock_read=seconds)


def _translated(error: Exception, request: httpx.Request) -> httpx.TransportError:
    """aiohttp's failure as the httpx error of the same meaning (sent or not)."""
    message = f"{type(error).__name__}: {error}"
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(error, (aiohttp.SocketTimeoutError, TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    # The connection closed before a whole answer, or what came back was not HTTP.
    unreadable = (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
    if isinstance(error, unreadable):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)


class LaneHttp:
    """At most `connections` connections, kept alive between requests; `timeout_seconds` for a free
    connection and a new one together, and again for the answer. The session is made on first use,
    inside the event loop that sends."""

    def __init__(self, connections: int, timeout_seconds: float) -> None:
        self.connections = connections
        self.timeout = _timeout(timeout_seconds)
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers=HEADERS,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx's response decodes the body by its Content-Encoding
                skip_auto_headers=("Content-Type",),
            )
        return self.session

    async def post(
        self,
        url: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        body, content_type = _body(json, data, content)
        sent = dict(headers or {})
        if content_type:
            sent.setdefault("Content-Type", content_type)
        limits = self.timeout if timeout is None else _timeout(timeout)
        try:
            async with self._session().post(
                url, data=body, headers=sent, allow_redirects=False, timeout=limits
            ) as answer:
                raw = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _translated(error, httpx.Request("POST", url)) from error
        return httpx.Response(answer.status, headers=list(answer.raw_headers), content=raw)

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()
