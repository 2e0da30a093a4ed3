"""Who is asking, what they may do, and proof that a form came from the console.

- Sessions: the cookie `bis_console` holds a random token; the store keeps its digest (`store/users.py`).
  Signing in always starts a new session and ends the browser's previous one (no session fixation).
  Cookies are HttpOnly, SameSite=Strict, and Secure over HTTPS.
- Permissions: `require(permission)` is the dependency every page and action declares; without a session a
  page redirects to the sign-in form, and a signed-in user lacking the permission gets 403.
- CSRF: every request that is not GET/HEAD/OPTIONS carries a token (form field `csrf_token` or header
  `X-CSRF-Token`) equal to the session's; before sign-in, the token is an HMAC of a random cookie
  (`bis_sign_in`) under the server's key. A cross-site Origin is refused as well. `csrf_protect` runs as an
  app-wide dependency, so no form can forget it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import HTTPException, Request, Response

from backinstock.store import users
from dashboards.context import now_of, settings_of, store_of

SESSION_COOKIE = "bis_console"
SIGN_IN_COOKIE = "bis_sign_in"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY_BYTES = 1_048_576  # the largest form: a template's three parts of 100,000 characters, encoded
CSRF_REFUSED = "the form did not come from this console or has expired: reload the page and try again"


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request."""

    id: int
    name: str
    permissions: frozenset[str]
    csrf_token: str

    def may(self, permission: str) -> bool:
        return permission in self.permissions


class NotSignedIn(Exception):
    """A page or action asked for by someone without a session: pages send them to the sign-in form."""


def viewer_of(request: Request) -> Viewer | None:
    """The request's signed-in user, looked up once per request."""
    if not hasattr(request.state, "viewer"):
        row = None
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            with store_of(request).connect() as connection:
                row = users.session_user(connection, token, now_of(request))
        request.state.viewer = (
            None
            if row is None
            else Viewer(row["id"], row["name"], frozenset(row["permissions"]), row["csrf_token"])
        )
    return request.state.viewer


def require(permission: str):
    """A dependency: the viewer, who must be signed in and hold `permission`."""

    def signed_in_with_permission(request: Request) -> Viewer:
        viewer = viewer_of(request)
        if viewer is None:
            raise NotSignedIn()
        if not viewer.may(permission):
            raise HTTPException(403, f"{viewer.name} does not have the {permission} permission")
        return viewer

    return signed_in_with_permission


def signed_in(request: Request) -> Viewer:
    """A dependency: any signed-in viewer."""
    viewer = viewer_of(request)
    if viewer is None:
        raise NotSignedIn()
    return viewer


# --- CSRF ---------------------------------------------------------------------------------------------------


def sign_in_nonce(request: Request) -> str:
    """The browser's sign-in cookie, or a new one for the response to set (`keep_sign_in_nonce`)."""
    if not hasattr(request.state, "sign_in_nonce"):
        sent = request.cookies.get(SIGN_IN_COOKIE, "")
        request.state.sign_in_nonce = sent if 20 <= len(sent) <= 128 else secrets.token_urlsafe(32)
    return request.state.sign_in_nonce


def csrf_token_for(request: Request) -> str:
    viewer = viewer_of(request)
    if viewer is not None:
        return viewer.csrf_token
    key = settings_of(request).signing_key
    return hmac.new(key, b"sign-in:" + sign_in_nonce(request).encode(), hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # not every client sends one; the token decides then
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuse an unsafe request without this session's CSRF token (403). Its body is
    read only when it says how long it is and that is at most MAX_BODY_BYTES (411, 413): a form is read
    before anyone is known."""
    if request.method in SAFE_METHODS:
        return
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "a request with a body must say its length (Content-Length)")
    if int(length) > MAX_BODY_BYTES:
        raise HTTPException(413, f"a request body takes at most {MAX_BODY_BYTES} bytes")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token_for(request)) or not _same_origin(request):
        raise HTTPException(403, CSRF_REFUSED)


# --- cookies ------------------------------------------------------------------------------------------------


def _secure(request: Request) -> bool:
    configured = settings_of(request).dashboards.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def keep_sign_in_nonce(request: Request, response: Response) -> None:
    """Set the sign-in cookie the form's CSRF token was made from, when the browser has none yet."""
    nonce = sign_in_nonce(request)
    if request.cookies.get(SIGN_IN_COOKIE) != nonce:
        response.set_cookie(
            SIGN_IN_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request), path="/"
        )


def start_session(request: Request, response: Response, user_id: int) -> None:
    """Sign the user in with a new session token; the browser's previous session ends (rotation)."""
    settings = settings_of(request)
    lifetime = timedelta(hours=settings.dashboards.session_hours)
    with store_of(request).begin() as connection:
        token = users.start_session(
            connection,
            user_id,
            now=now_of(request),
            lifetime=lifetime,
            ip=request.client.host if request.client else None,
            replacing=request.cookies.get(SESSION_COOKIE),
        )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/")


def end_session(request: Request, response: Response) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with store_of(request).begin() as connection:
            users.end_session(connection, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
