"""The simulator's one HTTP app: Shopify Admin GraphQL, the message providers and the `/_sim` control routes.

Handlers are async and run on one event loop, so the world is only ever touched by one of them at a time
between awaits; the world's outgoing calls (webhooks, shoppers) use one pooled HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.ground_truth import Rules, ground_truth
from simulator.instants import format_instant, parse_instant
from simulator.providers import Forced
from simulator.world import World

OUTGOING_TIMEOUT_SECONDS = 10.0


def create_app(world: World) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with httpx.Client(timeout=OUTGOING_TIMEOUT_SECONDS) as http:
            world.bind(http)
            yield

    async def graphql(request: Request) -> Response:
        status, payload = world.api.answer(
            request.headers.get("x-shopify-access-token"), await _json_body(request)
        )
        return JSONResponse(payload, status_code=status)

    async def clock(request: Request) -> Response:
        return JSONResponse(_clock(world))

    async def advance(request: Request) -> Response:
        body = await _json_body(request)
        try:
            to = parse_instant(body["to"])
        except (TypeError, KeyError, ValueError, AttributeError):
            return JSONResponse({"error": 'expected {"to": ISO-8601 instant}'}, status_code=400)
        try:
            played, played_early = await world.advance(to)
        except ValueError as backwards:
            return JSONResponse({"error": str(backwards)}, status_code=409)
        return JSONResponse({**_clock(world), "played": played, "played_before_to": played_early})

    async def stock(request: Request) -> Response:
        body = await _json_body(request)
        try:
            variant_id = int(str(body["variant_id"]).rsplit("/", 1)[-1])
            units, webhooks = int(body["available"]), bool(body.get("webhooks", True))
            if variant_id not in world.store.variants or units < 0:
                raise ValueError
        except (TypeError, KeyError, ValueError):
            expected = '{"variant_id": a known id or gid, "available": units >= 0, "webhooks": bool}'
            return JSONResponse({"error": f"expected {expected}"}, status_code=400)
        async with world.advancing:
            at = await world.set_online_stock(variant_id, units, webhooks)
        return JSONResponse({"at": format_instant(at)})

    async def app_installation(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("installed"), bool):
            return JSONResponse({"error": 'expected {"installed": bool}'}, status_code=400)
        async with world.advancing:
            at = await world.set_installed(body["installed"])
        return JSONResponse({"at": format_instant(at), "installed": body["installed"]})

    async def truth(request: Request) -> Response:
        query = request.query_params
        try:
            as_of = parse_instant(query["as_of"]) if "as_of" in query else world.now
            given = {f.name: _typed(f.default, query[f.name]) for f in fields(Rules) if f.name in query}
            rules = Rules(**given)
        except ValueError as bad:
            return JSONResponse({"error": str(bad)}, status_code=400)
        return JSONResponse(ground_truth(world.log.events, as_of, rules))

    async def log(request: Request) -> Response:
        kinds = request.query_params.getlist("kind")
        events = world.log.of_kind(*kinds) if kinds else world.log.events
        return JSONResponse({"now": format_instant(world.now), "events": events})

    async def force_provider_response(request: Request) -> Response:
        body = await _json_body(request)
        try:
            rule = Forced(**body)
        except TypeError as bad:
            return JSONResponse({"error": str(bad)}, status_code=400)
        world.provider.forced.append(rule)
        return JSONResponse({"forced": len(world.provider.forced)}, status_code=201)

    async def clear_provider_responses(request: Request) -> Response:
        world.provider.forced.clear()
        return Response(status_code=204)

    # An operator's chat or pager stand-in: the product's alert webhook posts here, tests read them back.
    operator_alerts: list[Any] = []

    async def receive_alert(request: Request) -> Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        operator_alerts.append(body)
        return JSONResponse({"received": len(operator_alerts)})

    async def list_alerts(request: Request) -> Response:
        return JSONResponse({"alerts": operator_alerts})

    return Starlette(
        routes=[
            Route("/admin/api/{version}/graphql.json", graphql, methods=["POST"]),
            Route("/_sim/clock", clock, methods=["GET"]),
            Route("/_sim/advance", advance, methods=["POST"]),
            Route("/_sim/stock", stock, methods=["POST"]),
            Route("/_sim/app", app_installation, methods=["POST"]),
            Route("/_sim/ground-truth", truth, methods=["GET"]),
            Route("/_sim/log", log, methods=["GET"]),
            Route("/_sim/provider/forced", force_provider_response, methods=["POST"]),
            Route("/_sim/provider/forced", clear_provider_responses, methods=["DELETE"]),
            Route("/_sim/alerts", receive_alert, methods=["POST"]),
            Route("/_sim/alerts", list_alerts, methods=["GET"]),
            *world.providers.routes(),
        ],
        lifespan=lifespan,
    )


def _typed(default: Any, text: str) -> Any:
    """A rule parameter from the query string, of its default's type: `true`/`false` for switches, text for
    text, numbers as float."""
    if isinstance(default, bool):
        if text not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text == "true"
    return text if isinstance(default, str) else float(text)


def _clock(world: World) -> dict[str, Any]:
    upcoming = world.next_event_at
    return {"now": format_instant(world.now), "next_event_at": format_instant(upcoming) if upcoming else None}


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None
