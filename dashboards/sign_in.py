"""Sign in and out of the console. Every sign-in is audited with where it came from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from backinstock.store import audit, users
from dashboards import auth
from dashboards.context import client_ip, now_of, store_of
from dashboards.web import render

router = APIRouter()
WRONG = "That name and password do not match an enabled user."


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
    with store_of(request).begin() as connection:
        user = users.authenticate(connection, name, password)
        if user is not None:
            audit.record(
                connection,
                actor=user["name"],
                action="user.sign_in",
                target_type="user",
                target_id=user["name"],
                now=now_of(request),
                source=client_ip(request),
            )
    if user is None:
        request.state.viewer = None
        response = render(request, "sign_in.html", {"next": _local(next), "error": WRONG}, status_code=400)
        auth.keep_sign_in_nonce(request, response)
        return response
    response = RedirectResponse(_local(next), status_code=303)
    auth.start_session(request, response, user["id"])
    return response


@router.post("/sign-out")
def sign_out(request: Request, _viewer: Annotated[auth.Viewer, Depends(auth.signed_in)]) -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    auth.end_session(request, response)
    return response
