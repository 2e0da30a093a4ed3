"""A lane's HTTP connections: httpx's client on aiohttp's connection pool.

The providers speak httpx (requests, responses, the error classes `base.post` sorts into "never sent" and
"maybe sent"), but httpx's own transport (httpcore, h11, anyio) cost ~650 us of CPU a request on this
machine against ~90 us for aiohttp's C-parsed pool: at a lane's full speed it was half of the dispatcher's
CPU. This transport hands each request to one aiohttp session with the lane's concurrency as its limit and
translates the answer and the failures back into httpx's, so the distinction the exactly-once rules rest on
holds: only a failure before the request went out (no connection, no free connection in time) is a
`ConnectError`/`ConnectTimeout`; anything after it is a read, protocol or network error."""

from __future__ import annotations

import aiohttp
import httpx

# Set by aiohttp for the body it sends; httpx's own values would be stale once the body is read whole.
_DROPPED = {"content-length", "transfer-encoding"}


def _timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    """httpx's timeouts in aiohttp's terms: `connect` there covers waiting for a free connection too."""
    timeout = request.extensions.get("timeout", {})
    pool, connect, read = timeout.get("pool"), timeout.get("connect"), timeout.get("read")
    waiting = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=read)


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


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `connections` connections, kept alive between requests. The session is made on first use,
    inside the event loop that sends."""

    def __init__(self, connections: int) -> None:
        self.connections = connections
        self.session: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx's client keeps the cookies, if any
                auto_decompress=False,  # httpx decodes the body by its Content-Encoding
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self.session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(name, value) for name, value in request.headers.multi_items() if name not in _DROPPED]
        try:
            async with self._session().request(
                request.method,
                str(request.url),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=_timeout(request),
            ) as answer:
                content = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _translated(error, request) from error
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": f"HTTP/{answer.version.major}.{answer.version.minor}".encode(),
                "reason_phrase": (answer.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()
