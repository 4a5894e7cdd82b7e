"""One error body for every failure the API returns, and the handlers that build it.

Every 4xx/5xx answer looks the same::

    {"error": {"status": 403, "code": "permission_denied", "message": "permission denied: ..."}}

Request validation failures (422) add ``fields``: where each problem is and what
it is. Library errors (``passerelle.errors``) map to statuses by class; unknown
routes and methods get the same body; an unexpected bug is a 500 with a generic
sentence (and a log line), never a traceback.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from passerelle.errors import (
    AuthenticationError,
    AuthenticationThrottled,
    ConfigError,
    ConflictError,
    NotFoundError,
    PasserelleError,
    PermissionDeniedError,
    PreconditionFailedError,
    TransientError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ERROR_RESPONSES",
    "MAX_BODY_BYTES",
    "ErrorBody",
    "ErrorDetail",
    "FieldProblem",
    "allowed_methods",
    "install_handlers",
    "status_of",
]

log = logging.getLogger("passerelle.api")

MAX_BODY_MIB = 16
MAX_BODY_BYTES = MAX_BODY_MIB * 1024 * 1024
"""Larger request bodies are refused with 413 before they are read."""

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}


class FieldProblem(BaseModel):
    """One invalid part of a request."""

    location: str = Field(description="Where: e.g. `body.title` or `query.limit`.")
    message: str


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(description="A stable machine-readable code, e.g. `permission_denied`.")
    message: str = Field(description="One sentence: what is wrong and what to do.")
    fields: list[FieldProblem] | None = Field(
        default=None, description="For request validation errors: each invalid field."
    )
    reason: str | None = Field(
        default=None,
        description="For research queries the sandbox refused or DuckDB could not run: "
        "the rule, e.g. `file-access`.",
    )


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing, unknown, expired or revoked token."),
    403: _doc("The token's user may not do this (the refusal is audited)."),
    404: _doc(
        "No such resource, or one the caller may not see: the two answers are the same, "
        "naming only what was asked for."
    ),
    409: _doc("The request clashes with the current state (duplicate, wrong status)."),
    413: _doc(f"The request body is over {MAX_BODY_MIB} MiB."),
    422: _doc("The request is malformed or a value is invalid."),
    429: {
        **_doc(
            "Too many failed authentications from this client address; retry after "
            "`Retry-After` seconds (no token is checked meanwhile)."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds until the address may try again.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
    503: _doc("The hub's database or storage is unreachable or misconfigured; retry later."),
}
"""Error responses every authenticated route may return (for the OpenAPI document)."""


def status_of(exc: PasserelleError) -> int:
    """The HTTP status for a library error."""
    if isinstance(exc, AuthenticationThrottled):
        return 429
    if isinstance(exc, AuthenticationError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, PreconditionFailedError):
        return 412
    if isinstance(exc, ConfigError | TransientError):
        return 503  # the hub's own setup or a backend, not the caller's input
    if isinstance(exc, UnsupportedOperationError):
        return 501
    return 422  # UsageError and every other terminal error: the request cannot succeed as is


def error_response(
    status: int,
    message: str,
    *,
    fields: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    reason: str | None = None,
) -> JSONResponse:
    from fastapi.responses import JSONResponse

    detail = ErrorDetail(
        status=status,
        code=_CODES.get(status, "error"),
        message=message,
        fields=fields,
        reason=reason,
    )
    body = ErrorBody(error=detail).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _validation_fields(errors: Any) -> list[FieldProblem]:
    return [FieldProblem(location=_location(e.get("loc", ())), message=e["msg"]) for e in errors]


def allowed_methods(request: Request) -> str:
    """Every method some route offers on this path (Starlette names only the first route's)."""
    from starlette.routing import Match

    # Asked of each route with the scope's method changed: included routers (FastAPI
    # builds them lazily) have no ``methods`` of their own, but answer ``matches``.
    methods: set[str] = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            methods.add(method)
    return ", ".join(sorted(methods)) or "GET"


def _too_large() -> JSONResponse:
    return error_response(413, f"the request body is over {MAX_BODY_MIB} MiB: send less at once")


class _BodyTooLarge(Exception):
    """A streamed request body went over the limit."""


class _BodyLimit:
    """Refuse request bodies over ``MAX_BODY_BYTES`` with the error body (ASGI middleware).

    A declared ``Content-Length`` is refused before anything is read; a streamed
    body is counted as it arrives and refused when it passes the limit.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                await _too_large()(scope, receive, send)
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES:
                    raise _BodyTooLarge
            return message

        await self.app(scope, counting_receive, send)


def install_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the one error body."""
    from fastapi.exceptions import RequestValidationError
    from sqlalchemy.exc import DataError
    from starlette.exceptions import HTTPException

    async def on_library_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PasserelleError)
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, AuthenticationThrottled):
            headers = {"Retry-After": str(exc.retry_after)}
        if status == 503:
            headers = {"Retry-After": "5"}
            log.warning("hub unavailable: %s", exc)
        reason = getattr(exc, "reason", None)  # SandboxViolation, QueryError
        return error_response(
            status, str(exc), headers=headers, reason=reason if isinstance(reason, str) else None
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = _validation_fields(exc.errors())
        first = fields[0] if fields else FieldProblem(location="request", message="invalid")
        more = f" (and {len(fields) - 1} more problem(s))" if len(fields) > 1 else ""
        message = f"invalid request: {first.location}: {first.message}{more}"
        return error_response(422, message, fields=fields)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        if status == 413 or isinstance(exc.__cause__, _BodyTooLarge):
            return _too_large()
        if status == 400:  # FastAPI could not decode the body: malformed input, like bad JSON
            location = FieldProblem(location="body", message="not valid UTF-8 JSON")
            return error_response(
                422, "invalid request: the body is not valid UTF-8 JSON", fields=[location]
            )
        if status == 404:
            message = f"no route {request.url.path}: see /docs for the API's routes"
        elif status == 405:
            allowed = allowed_methods(request)
            message = f"{request.method} is not allowed on {request.url.path}: use {allowed}"
            return error_response(status, message, headers={"Allow": allowed})
        else:
            message = str(exc.detail)
        return error_response(status, message, headers=getattr(exc, "headers", None))

    async def on_database_value(request: Request, exc: Exception) -> JSONResponse:
        log.info("database refused a value: %s", exc)
        return error_response(
            422, "a value is out of range or not storable in the hub database; check the input"
        )

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "the hub failed unexpectedly; the error is logged, tell the hub's operator"
        )

    app.add_exception_handler(PasserelleError, on_library_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(DataError, on_database_value)
    app.add_exception_handler(UnicodeError, on_database_value)
    app.add_exception_handler(Exception, on_bug)
    app.add_exception_handler(_BodyTooLarge, lambda request, exc: _too_large())
    app.add_middleware(_BodyLimit)
