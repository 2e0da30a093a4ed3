"""Console users: add one, grant and withdraw permissions one by one, disable or enable; through
`backinstock.store.users`, the functions `backinstock user` calls, audited with who and from where."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backinstock.store import users
from backinstock.store.tables import PERMISSIONS
from dashboards import auth
from dashboards.context import client_ip, now_of, store_of
from dashboards.forms import given, refuse
from dashboards.web import NavItem, render

router = APIRouter()
NAV = [NavItem("manage_users", "/users", "Users")]


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    _viewer: Annotated[auth.Viewer, Depends(auth.require("manage_users"))],
    done: str | None = None,
) -> HTMLResponse:
    with store_of(request).connect() as connection:
        everyone = users.all_users(connection)
    notice = next((f"{user['name']}: saved" for user in everyone if user["name"] == done), None)
    return render(
        request,
        "users.html",
        {"users": everyone, "permissions": PERMISSIONS, "notice": notice},
        as_of=now_of(request),
    )


@router.post("/users")
def add_user(
    request: Request,
    viewer: Annotated[auth.Viewer, Depends(auth.require("manage_users"))],
    name: Annotated[str, Form(max_length=255)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD_CHARS)],
    permission: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        with store_of(request).begin() as connection:
            users.add_user(
                connection, name=name, password=password, permissions=permission or [], actor=viewer.name,
                now=now_of(request), source=client_ip(request),
            )  # fmt: skip
    except users.UserError as refused:
        raise refuse(refused) from None
    return RedirectResponse(f"/users?done={name}", status_code=303)


@router.post("/users/{name}/permissions")
def set_permissions(
    request: Request,
    name: str,
    viewer: Annotated[auth.Viewer, Depends(auth.require("manage_users"))],
    permission: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        with store_of(request).begin() as connection:
            users.set_permissions(
                connection, name=name, permissions=permission or [], actor=viewer.name, now=now_of(request),
                source=client_ip(request), reason=given(reason),
            )  # fmt: skip
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from None
    except users.UserError as refused:
        raise refuse(refused) from None
    return RedirectResponse(f"/users?done={name}", status_code=303)


@router.post("/users/{name}/disabled")
def set_disabled(
    request: Request,
    name: str,
    viewer: Annotated[auth.Viewer, Depends(auth.require("manage_users"))],
    disabled: Annotated[str, Form(pattern="^(yes|no)$")],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        with store_of(request).begin() as connection:
            users.set_disabled(
                connection, name=name, disabled=disabled == "yes", actor=viewer.name, now=now_of(request),
                source=client_ip(request), reason=given(reason),
            )  # fmt: skip
    except LookupError as missing:
        raise HTTPException(404, str(missing)) from None
    return RedirectResponse(f"/users?done={name}", status_code=303)
