"""Every fake provider account of one simulated world, behind one HTTP app: the routes each provider
serves, its answers after their latency, and the event webhooks it owes (handed to whoever schedules them:
the simulated world plays them at simulated instants, a standalone server after real delays).

Control routes for tests: `GET /_sim/providers/log`, `POST /_sim/providers/{provider}/faults`,
`POST|DELETE /_sim/providers/{provider}/forced` (`/_sim/provider/forced` is SendGrid's, kept for old tests).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.providers.accounts import Account, Faults, Forced
from simulator.providers.common import Event, Front, Incoming, Reply

OnReply = Callable[[str, Incoming, Reply], None]
Schedule = Callable[[Event], None]


def real_now() -> datetime:
    return datetime.now(UTC)


class ProviderHub:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = real_now,
        schedule: Schedule | None = None,
        on_reply: OnReply | None = None,
    ) -> None:
        self.clock = clock
        self.schedule = schedule
        self.on_reply = on_reply
        self.fronts: dict[str, Front] = {}
        self.accounts: dict[str, Account] = {}
        self.events: list[Event] = []

    def add(self, front: Front, faults: Faults | None = None, *, idempotent: bool = False) -> Account:
        account = Account(front.provider, faults=faults, idempotent=idempotent)
        self.fronts[front.provider] = front
        self.accounts[front.provider] = account
        return account

    def answer(self, provider: str, incoming: Incoming) -> Reply:
        """The provider's reply to one request (its events scheduled if it accepted a new message)."""
        front, account = self.fronts[provider], self.accounts[provider]
        now = self.clock()
        reply = front.handle(account, incoming, now)
        if reply.delivery is not None:
            for event in front.events(account, reply.delivery, now):
                self.events.append(event)
                if self.schedule is not None:
                    self.schedule(event)
        if self.on_reply is not None:
            self.on_reply(provider, incoming, reply)
        return reply

    def routes(self) -> list[Route]:
        routes = []
        for provider, front in self.fronts.items():
            for path in front.routes:
                routes.append(Route(path, self._endpoint(provider), methods=["POST"]))
        return [
            *routes,
            Route("/_sim/providers/log", self._log, methods=["GET"]),
            Route("/_sim/providers/{provider}/faults", self._faults, methods=["POST"]),
            Route("/_sim/providers/{provider}/forced", self._force, methods=["POST"]),
            Route("/_sim/providers/{provider}/forced", self._unforce, methods=["DELETE"]),
        ]

    def _endpoint(self, provider: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            incoming = Incoming(
                request.method,
                request.url.path,
                {key.lower(): value for key, value in request.headers.items()},
                await request.body(),
                str(request.url),
            )
            reply = self.answer(provider, incoming)
            if reply.delay_seconds > 0:
                await asyncio.sleep(reply.delay_seconds)
            return to_response(reply)

        return endpoint

    async def _log(self, request: Request) -> Response:
        wanted = request.query_params.get("provider")
        accounts = {name: account for name, account in self.accounts.items() if wanted in (None, name)}
        return JSONResponse(
            {
                name: {
                    "accepted": [_plain(asdict(delivery)) for delivery in account.accepted],
                    "requests": [_plain(asdict(item)) for item in account.requests],
                }
                for name, account in accounts.items()
            }
        )

    async def _faults(self, request: Request) -> Response:
        account = self.accounts.get(request.path_params["provider"])
        if account is None:
            return JSONResponse({"error": "no such provider"}, status_code=404)
        known = {item.name for item in fields(Faults)}
        try:
            body = json.loads(await request.body())
            account.configure(Faults(**{key: value for key, value in body.items() if key in known}))
        except (TypeError, ValueError, AttributeError) as bad:
            return JSONResponse({"error": str(bad)}, status_code=400)
        return JSONResponse(asdict(account.faults))

    async def _force(self, request: Request) -> Response:
        account = self.accounts.get(request.path_params["provider"])
        if account is None:
            return JSONResponse({"error": "no such provider"}, status_code=404)
        try:
            account.forced.append(Forced(**json.loads(await request.body())))
        except (TypeError, ValueError) as bad:
            return JSONResponse({"error": str(bad)}, status_code=400)
        return JSONResponse({"forced": len(account.forced)}, status_code=201)

    async def _unforce(self, request: Request) -> Response:
        account = self.accounts.get(request.path_params["provider"])
        if account is not None:
            account.forced.clear()
        return Response(status_code=204)


def to_response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    if isinstance(reply.body, bytes | str):
        return Response(reply.body, status_code=reply.status, headers=reply.headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}
