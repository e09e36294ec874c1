"""Live board: `GET /api/leaderboard/stream` (SSE), `/api/leaderboard/ws` (WebSocket), stream tickets."""

from __future__ import annotations

import logging
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, WebSocket, status
from pydantic import ValidationError
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope
from starlette.types import Send as AsgiSend
from starlette.websockets import WebSocketDisconnect

from scoreboard.auth.dependencies import CurrentUser
from scoreboard.kit.bodylimit import declared_too_large, too_large_detail
from scoreboard.kit.problems import (
    STORE_ERRORS,
    Forbidden,
    PayloadTooLarge,
    ProblemError,
    ServiceUnavailable,
    TooManyRequests,
    invalid_request,
    problem_response,
    render,
)
from scoreboard.kit.rawsend import SCOPE_KEY, ChunkWriter, Delegate
from scoreboard.live import events, service
from scoreboard.live.client import Client, Send
from scoreboard.live.hub import MAX_LIMIT, Hub
from scoreboard.live.schemas import StreamQuery, StreamTicket

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/leaderboard", tags=["live"])
StreamLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows of the board to keep live")]
Ticket = Annotated[str | None, Query(max_length=200, description="From POST /api/leaderboard/stream-ticket")]
# WebSocket close codes: 1012 = service restart (reconnect elsewhere), 1001 = going away (reconnect).
CLOSE_CODES = {"shutdown": 1012, "lifetime": 1001, "unavailable": 1011}
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]


def _hub(conn: HTTPConnection) -> Hub:
    hub: Hub = conn.app.state.hub
    return hub


def _refuse_if_no_room(hub: Hub, ip: str | None) -> None:
    if hub.crowded(ip):
        raise TooManyRequests("Too many live streams from this address; close some first.", retry_after=5)
    if hub.full:
        detail = "This server is shutting down." if hub.draining else "This server has no room for more streams."
        raise ServiceUnavailable(
            detail + " Reconnect shortly (another instance may serve you).", headers={"Retry-After": "5"}
        )


async def _serve(hub: Hub, client: Client, last_event_id: int | None, receive: Any) -> None:
    """Run a client from attach to detach in the connection's own handler (no task of its own while it keeps up)."""
    hub.attach(client, last_event_id)
    try:
        await client.serve(receive)
    finally:
        hub.detach(client)


def _query(conn: HTTPConnection) -> StreamQuery:
    """Validate a stream's query (both transports; the SSE one is served before FastAPI would do it)."""
    try:
        return StreamQuery.model_validate(dict(conn.query_params))
    except ValidationError as exc:
        raise invalid_request({**e, "loc": ("query", *e["loc"])} for e in exc.errors()) from None


async def _open_sse(scope: Scope) -> tuple[Hub, UUID | None, int, int | None, str | None]:
    """Validate a stream request; return (hub, owner, limit, resume-from id, address) or raise a problem."""
    conn = HTTPConnection(scope)
    max_bytes = conn.app.state.settings.max_body_bytes
    if declared_too_large(scope, max_bytes):  # served ahead of the body-limit middleware: same answer here
        raise PayloadTooLarge(too_large_detail(max_bytes))
    query = _query(conn)
    hub, ip = _hub(conn), conn.client.host if conn.client else None
    _refuse_if_no_room(hub, ip)
    user_id = await service.stream_owner(conn, query.ticket)
    return hub, user_id, query.limit, _event_id(conn.headers.get("last-event-id") or query.last_event_id), ip


async def stream_app(scope: Scope, receive: Receive, send: AsgiSend) -> None:
    """Serve `GET /api/leaderboard/stream` before routing (RawSendApp.bare_routes): a stream carries no layers."""
    try:
        hub, user_id, limit, last_event_id, ip = await _open_sse(scope)
    except Exception as exc:
        response = await render(Request(scope), exc)
        await response(scope, receive, send)
        return
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    opening = f"retry: {hub.settings.stream_retry_ms}\n: scoreboard live board\n\n".encode()
    await send({"type": "http.response.body", "body": opening, "more_body": True})
    # `send` is the server's own (a coroutine function, which the client steps eagerly) unless routing wrapped it.
    raw = cast(Send, scope.get(SCOPE_KEY, send))
    client = Client(
        kind="sse",
        send=raw,
        limit=limit,
        limits=hub.client_limits,
        snapshot=hub.snapshot,
        user_id=user_id,
        ip=ip,
        writer=ChunkWriter.of(raw),
    )
    await _serve(hub, client, last_event_id, receive)


def _event_id(value: str | None) -> int | None:
    # A malformed Last-Event-ID is not worth a failed reconnect: the client just gets a snapshot.
    return int(value) if value is not None and value.isascii() and value.isdigit() and len(value) < 19 else None


@router.get(
    "/stream",
    summary="The live board as Server-Sent Events",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}, 503: {"description": "No room; retry elsewhere"}},
)
async def stream(
    limit: StreamLimit = 10,
    ticket: Ticket = None,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
    last_event_id_query: Annotated[str | None, Query(alias="lastEventId", max_length=20)] = None,
) -> Response:
    """`snapshot`, then `score_update` events (the seed's format); with a token or ticket also `my_rank`."""
    # The app serves this path before routing (`bare_routes`); this entry documents it, and serves it where the
    # router is mounted in a plain FastAPI app.
    return Delegate(stream_app)


# Served by RawSendApp ahead of routing.
bare_routes: dict[tuple[str, str], ASGIApp] = {("GET", "/api/leaderboard/stream"): stream_app}


@router.post("/stream-ticket", status_code=status.HTTP_201_CREATED, summary="A one-use ticket to open my stream")
async def stream_ticket(request: Request, user: CurrentUser) -> StreamTicket:
    """EventSource cannot send headers: pass this as `?ticket=` within its lifetime, once."""
    if user.user_id is None or user.session_id is None:
        raise Forbidden("Stream tickets are for players.")
    ttl = _hub(request).settings.stream_ticket_ttl_seconds
    return StreamTicket(ticket=await service.issue_ticket(request.app.state.redis, user, ttl), expires_in=ttl)


async def _deny(websocket: WebSocket, problem: ProblemError) -> None:
    response = problem_response(
        problem.status,
        title=problem.title,
        detail=problem.detail,
        instance=websocket.url.path,
        headers=problem.headers,
        **problem.extra,
    )
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server cannot send an HTTP answer to a WebSocket handshake
        await websocket.close(code=1008 if problem.status < 500 else 1013, reason=problem.detail or "")


@router.websocket("/ws")
async def websocket_stream(websocket: WebSocket) -> None:
    """The live board over a WebSocket: the same events as the SSE stream, as JSON text messages.

    Query: `limit` (1-100, default 10), `ticket`, `lastEventId`; refusals are HTTP problem+json answers.
    """
    hub, ip = _hub(websocket), websocket.client.host if websocket.client else None
    try:
        query = _query(websocket)
        _refuse_if_no_room(hub, ip)
        user_id = await service.stream_owner(websocket, query.ticket)
    except ProblemError as problem:
        await _deny(websocket, problem)
        return
    except STORE_ERRORS:
        await _deny(websocket, ServiceUnavailable("A backing store is unavailable.", headers={"Retry-After": "5"}))
        return
    await websocket.accept()

    async def send(message: Any) -> None:
        try:
            await websocket.send(message)
        except WebSocketDisconnect as exc:
            raise ConnectionResetError("websocket closed") from exc

    # Events go straight to the server's send (it raises OSError once the peer is gone); the close goes through
    # Starlette's, which keeps the WebSocket's state right.
    raw = cast(Send, websocket.scope.get(SCOPE_KEY, send))

    async def finish(reason: str) -> None:
        await send({"type": "websocket.send", "text": events.reconnect(reason, hub.client_limits.retry_ms).text})
        await send({"type": "websocket.close", "code": CLOSE_CODES.get(reason, 1000), "reason": reason})

    async def receive() -> Any:
        try:
            return await websocket.receive()
        except RuntimeError:  # receive after the disconnect message
            return {"type": "websocket.disconnect"}

    client = Client(
        kind="ws",
        send=raw,
        finish=finish,
        limit=query.limit,
        limits=hub.client_limits,
        snapshot=hub.snapshot,
        user_id=user_id,
        ip=ip,
    )

    await _serve(hub, client, _event_id(query.last_event_id), receive)
