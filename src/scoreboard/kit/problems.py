"""RFC 9457 problem details: domain errors carry their status; one handler renders them (a WebSocket's too)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
import redis.exceptions
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from scoreboard.kit import metrics, requestids

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# RFC 9110's names where Python's table keeps the older ones, matching the titles of our own 413 and 422.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}
# Failures to reach PostgreSQL or Redis: connection refused or reset, timeouts, a server shutting down.
STORE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # The connection broke mid-protocol (the server crashed or restarted under a query): nothing committed.
    asyncpg.InternalClientError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# The database answers but its schema is changing under the request (a reset, a restore or a migration: tables gone,
# a cached plan outdated, a statement deadlocked with the migration's locks): the statement failed whole and nothing
# was written, as when the server is away, so it is the same 503.
SCHEMA_CHANGING: tuple[type[Exception], ...] = (
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
    asyncpg.UndefinedFunctionError,
    asyncpg.UndefinedObjectError,
    asyncpg.InvalidCachedStatementError,
    asyncpg.DeadlockDetectedError,
)
UNAVAILABLE = (*STORE_ERRORS, *SCHEMA_CHANGING)

# Text PostgreSQL cannot store: a NUL character (U+0000) in a text column, or in jsonb. The client's input, not a fault.
UNSTORABLE_TEXT: tuple[type[Exception], ...] = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)


class ProblemError(Exception):
    """A failure the client can act on; subclasses set `status` and `title`."""

    status: int = 500
    title: str = "Internal Server Error"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ProblemError):
    """The request cannot be understood as sent."""

    status = 400
    title = "Bad Request"


class Unauthorized(ProblemError):
    """No valid credentials; the client should (re-)authenticate."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scoreboard"'}, **extra)


class Forbidden(ProblemError):
    """Authenticated, but not allowed to do this."""

    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    """The resource does not exist (or the caller may not know it does)."""

    status = 404
    title = "Not Found"


class PayloadTooLarge(ProblemError):
    """The request body is over the limit."""

    status = 413
    title = "Content Too Large"


class Unprocessable(ProblemError):
    """Well-formed, but not acceptable as sent."""

    status = 422
    title = "Unprocessable Content"


class Conflict(ProblemError):
    """The request conflicts with the current state."""

    status = 409
    title = "Conflict"


class TooManyRequests(ProblemError):
    """A rate limit or throttle refused the request."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str, *, retry_after: int, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail, headers={"Retry-After": str(retry_after), **(headers or {})}, **extra)


class ServiceUnavailable(ProblemError):
    """A backing store does not answer."""

    status = 503
    title = "Service Unavailable"


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Render one problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status) or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _problem_error(request: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


async def _http_error(request: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = None
    return problem_response(exc.status_code, detail=detail, instance=request.url.path, headers=dict(exc.headers or {}))


def invalid_request(errors: Iterable[Mapping[str, Any]]) -> Unprocessable:
    """The 422 problem for input that failed validation (pydantic's error dicts)."""
    # Echoing `input` back could reflect secrets (passwords) into logs and clients: keep only where and why.
    kept = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")} for err in errors]
    return Unprocessable("The request is not valid; see `errors`.", errors=kept)


async def _validation_error(request: HTTPConnection, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError | WebSocketRequestValidationError)
    return await _problem_error(request, invalid_request(exc.errors()))


def store_of(exc: BaseException) -> str:
    """Which store a store error came from: `postgresql`, `redis`, or `unknown`."""
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return "postgresql"
    if isinstance(exc, redis.exceptions.RedisError):
        return "redis"
    # A bare OSError or TimeoutError: the innermost driver frame it was raised through says whose it was.
    store = "unknown"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith("asyncpg"):
            store = "postgresql"
        elif module.startswith("redis"):
            store = "redis"
    return store


async def _store_unavailable(request: HTTPConnection, exc: Exception) -> Response:
    # Reached only when a store fails mid-request; nothing was committed (or the award path says so).
    metrics.STORE_ERRORS.labels(store_of(exc)).inc()
    log.error("store unavailable on %s %s: %s", request.scope.get("method", "WEBSOCKET"), request.url.path, exc)
    return problem_response(
        503,
        detail="A backing store is unavailable; nothing was changed. Retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _unstorable_text(request: HTTPConnection, exc: Exception) -> Response:
    # The statement failed, so the transaction it was in rolls back: nothing of the request was stored.
    return problem_response(
        422,
        detail="The request holds text that cannot be stored (a NUL character, U+0000); nothing was changed.",
        instance=request.url.path,
    )


async def _unhandled(request: HTTPConnection, exc: Exception) -> Response:
    # Starlette runs this handler outside every middleware: the request id comes from the scope.
    request_id = requestids.of(request.scope)
    with requestids.bound(request_id):
        method = request.scope.get("method", "WEBSOCKET")
        log.exception("unhandled error on %s %s", method, request.url.path, exc_info=exc)
    headers = {"X-Request-ID": request_id} if request_id is not None else None
    return problem_response(500, instance=request.url.path, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error response of `app` a problem+json document (to a WebSocket handshake: its HTTP answer)."""
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _validation_error)
    for unstorable in UNSTORABLE_TEXT:
        app.add_exception_handler(unstorable, _unstorable_text)
    for store_error in UNAVAILABLE:
        app.add_exception_handler(store_error, _store_unavailable)
    app.add_exception_handler(Exception, _unhandled)
