"""A lane's connections in several small pools instead of one big one.

httpcore looks at every connection of its pool at each request (for an idle one: a socket poll and a
getpeername through anyio), so a request on a pool of 64 connections costs sixteen times what it costs on
a pool of 4; at a lane's full concurrency that scan was a quarter of the dispatcher's CPU. Pools of 2 or 4
cost about a seventh less CPU per message than pools of 8; pools of one connection cost more again (the
choice among 64 pools is then the cost). Each request goes
to the pool with the fewest requests under way (counted until its answer is read and closed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

POOL_CONNECTIONS = 4


class _Counted(httpx.AsyncByteStream):
    """A response body that tells its pool when it is closed (the request is over then)."""

    def __init__(self, stream: httpx.AsyncByteStream, done: Callable[[], None]) -> None:
        self.stream = stream
        self.done: Callable[[], None] | None = done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            if self.done is not None:
                self.done, done = None, self.done
                done()


class PooledTransport(httpx.AsyncBaseTransport):
    """`connections` connections in pools of at most POOL_CONNECTIONS."""

    def __init__(self, connections: int) -> None:
        full, rest = divmod(connections, POOL_CONNECTIONS)
        self.sizes = [POOL_CONNECTIONS] * full + ([rest] if rest else [])
        self.pools = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)
            )
            for size in self.sizes
        ]
        self.busy = [0] * len(self.pools)

    def _least_busy(self) -> int:
        return min(range(len(self.pools)), key=lambda index: self.busy[index] / self.sizes[index])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._least_busy()
        self.busy[index] += 1

        def done() -> None:
            self.busy[index] -= 1

        try:
            response = await self.pools[index].handle_async_request(request)
        except BaseException:
            done()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_Counted(response.stream, done),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self.pools:
            await pool.aclose()
