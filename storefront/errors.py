"""One shape for every error the storefront answers in JSON, and never a 5xx caused by what a client sent.

The shape: `{"errors": [{"field": F, "message": M}]}`, where F names what the client sent that is wrong (a
body field such as `email`, a header such as `X-Shopify-Triggered-At`, `body` for the body as a whole,
`Origin`, `signature`) or is null when nothing the client sent is at fault (429 too many requests, 503
store busy). Pages people open from messages (`/u`, `/p`, `/confirm`, `/c`) answer HTML pages instead.

A store that is busy or down answers 503 with Retry-After. Anything else unexpected answers 500 in the same
shape and is logged by its type only: exception messages can hold SQL values (a contact, a token).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefront.logs import redact_path

STORE_RETRY_AFTER_SECONDS = 5
LOCATION_PREFIXES = ("body", "query", "path", "header")
log = logging.getLogger("storefront.errors")


REASONS = {
    400: "the body or a header is malformed; `field` names it",
    401: "a signature does not verify",
    403: "called from an origin that is not the shop's",
    404: "no such route",
    405: "method not allowed",
    413: "body too large",
    422: "a field is missing or wrong; `errors` names each one",
    429: "too many requests; wait as long as Retry-After says",
    503: "the store is busy; try again after Retry-After",
}


class ErrorItem(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    """The documented shape of every JSON error answer."""

    errors: list[ErrorItem]


def documented(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for the given error statuses, all in the one shape."""
    return {status: {"model": ErrorBody, "description": REASONS[status]} for status in statuses}


@dataclass(frozen=True)
class FieldError:
    field: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message}


class Refused(Exception):
    """A request answered with a 4xx (or 503) in the documented shape."""

    def __init__(
        self, status_code: int, errors: Sequence[FieldError], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.status_code = status_code
        self.errors = list(errors)
        self.headers = headers or {}


class InvalidInput(Refused):
    """422 with every field error at once."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__(422, errors)


def refused(status_code: int, field: str | None, message: str, **headers: str) -> Refused:
    return Refused(
        status_code, [FieldError(field, message)], {k.replace("_", "-"): v for k, v in headers.items()}
    )


def error_response(
    status_code: int, errors: Sequence[FieldError], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"errors": [error.as_dict() for error in errors]}, status_code=status_code, headers=headers
    )


def field_name(location: tuple[object, ...]) -> str:
    """FastAPI's error location (`("body", "email")`) as the field the client sent (`email`)."""
    parts = list(location[1:] if location and location[0] in LOCATION_PREFIXES else location)
    # A union type adds the member's type (`variant_id.str`), a JSON syntax error the character offset:
    # the client only knows the top-level field, or the body as a whole.
    return parts[0] if parts and isinstance(parts[0], str) else "body"


async def _refused(_request: Request, error: Refused) -> JSONResponse:
    return error_response(error.status_code, error.errors, error.headers)


async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    unique: dict[str, str] = {}
    for item in error.errors():
        unique.setdefault(field_name(tuple(item["loc"])), item["msg"])
    return error_response(422, [FieldError(field, message) for field, message in unique.items()])


async def _http_error(_request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own answers (404 no such route, 405 wrong method, 400 unreadable body) in our shape."""
    field = "body" if error.status_code == 400 else None
    return error_response(error.status_code, [FieldError(field, str(error.detail))], error.headers)


async def _store_unavailable(request: Request, error: sqlalchemy.exc.SQLAlchemyError) -> JSONResponse:
    log.warning("store unavailable on %s: %s", redact_path(request.url.path), describe(error))
    return error_response(
        503,
        [FieldError(None, "the service is busy; try again shortly")],
        {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
    )


def describe(error: BaseException) -> str:
    """An exception without its message: its type, and the database's error code when there is one."""
    original = getattr(error, "orig", None)
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    return type(error).__name__ + (f" ({type(original).__name__} {code})" if original is not None else "")


def install(app: FastAPI) -> None:
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _store_unavailable)
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _store_unavailable)


class ContainErrors:
    """The outermost layer: whatever escapes the app answers 500 in the documented shape and is logged by
    type only; it never reaches the server's own error log (which would print the exception's message)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            log.error("unhandled %s on %s %s", describe(error), scope["method"], redact_path(scope["path"]))
            if not started:
                response = error_response(500, [FieldError(None, "internal error")])
                await response(scope, receive, send)
