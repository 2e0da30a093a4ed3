"""Sign in and out of the console. Every sign-in is audited with where it came from; repeated failures for
a name or from an address are refused for a while (`sign_in_limits`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from backinstock.store import audit, users
from dashboards import auth
from dashboards.context import client_ip, now_of, store_of
from dashboards.sign_in_limits import FailedSignIns
from dashboards.web import render

router = APIRouter()
WRONG = "That name and password do not match an enabled user."


def _failures(request: Request) -> FailedSignIns:
    state = request.app.state
    if not hasattr(state, "failed_sign_ins"):
        state.failed_sign_ins = FailedSignIns()
    return state.failed_sign_ins


def _local(target: str | None) -> str:
    """Where to go after signing in: a path on this console only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    if auth.viewer_of(request) is not None:
        return RedirectResponse(_local(next), status_code=303)
    response = render(request, "sign_in.html", {"next": _local(next), "error": None})
    auth.keep_sign_in_nonce(request, response)
    return response


@router.post("/sign-in")
def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=255)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_CHARS)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    now = now_of(request)
    keys = [f"name:{name.lower()}", f"ip:{client_ip(request)}"]
    wait = _failures(request).wait(keys, now)
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        raise HTTPException(
            429,
            f"too many failed sign-ins: try again in {minutes} min",
            headers={"Retry-After": str(max(1, int(wait.total_seconds())))},
        )
    with store_of(request).begin() as connection:
        user = users.authenticate(connection, name, password)
        if user is not None:
            audit.record(
                connection,
                actor=user["name"],
                action="user.sign_in",
                target_type="user",
                target_id=user["name"],
                now=now,
                source=client_ip(request),
            )
    if user is None:
        _failures(request).failed(keys, now)
        request.state.viewer = None
        response = render(request, "sign_in.html", {"next": _local(next), "error": WRONG}, status_code=400)
        auth.keep_sign_in_nonce(request, response)
        return response
    _failures(request).succeeded(keys)
    response = RedirectResponse(_local(next), status_code=303)
    auth.start_session(request, response, user["id"])
    return response


@router.post("/sign-out")
def sign_out(request: Request, _viewer: Annotated[auth.Viewer, Depends(auth.signed_in)]) -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    auth.end_session(request, response)
    return response
