"""Live boards: `GET /api/leaderboard/stream` (SSE), `/ws` (WebSocket), stream tickets; every board's twins."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, WebSocket, status
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from scoreboard.auth.principal import Principal
from scoreboard.boards.periods import GLOBAL, Spec
from scoreboard.deps import ClientInfo, CurrentUser, HubDep, OptionalCaller, RedisDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from scoreboard.kit.routing import Route
from scoreboard.live import events, service
from scoreboard.live.boards import Audience
from scoreboard.live.client import Client
from scoreboard.live.events import MAX_LIMIT
from scoreboard.live.hub import Hub
from scoreboard.live.schemas import StreamTicket

leaderboard = APIRouter(prefix="/api/leaderboard", tags=["live"], route_class=Route)
boards = APIRouter(prefix="/api/boards", tags=["live"], route_class=Route)
BoardId = Annotated[
    str, Path(min_length=1, max_length=64, description="The board's id (`global`: the /api/leaderboard stream)")
]
StreamLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows of the board to keep live")]
Ticket = Annotated[str | None, Query(max_length=200, description="From POST /api/leaderboard/stream-ticket")]
LastEventIdQuery = Annotated[
    str | None,
    Query(alias="lastEventId", max_length=20, description="Resume after this event (for clients without headers)"),
]
LastEventIdHeader = Annotated[str | None, Header(alias="Last-Event-ID", description="Resume after this event")]
# WebSocket close codes: 1012 = service restart (reconnect elsewhere), 1001 = going away (reconnect).
CLOSE_CODES = {"shutdown": 1012, "lifetime": 1001, "unavailable": 1011}
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
]


def _refuse_if_no_room(hub: Hub, ip: str | None) -> None:
    if hub.crowded(ip):
        raise TooManyRequests("Too many live streams from this address; close some first.", retry_after=5)
    if hub.full:
        detail = "This server is shutting down." if hub.draining else "This server has no room for more streams."
        raise ServiceUnavailable(
            detail + " Reconnect shortly (another instance may serve you).", headers={"Retry-After": "5"}
        )


def _event_id(value: str | None) -> int | None:
    # A malformed Last-Event-ID is not worth a failed reconnect: the client just gets a snapshot.
    return int(value) if value is not None and value.isascii() and value.isdigit() and len(value) < 19 else None


async def _open(
    hub: Hub, redis: Pipelined, principal: Principal | None, ip: str | None, ticket: str | None, board_id: str
) -> tuple[UUID | None, Spec | None]:
    """Check a new stream: room for it, its board (None: the global one), and whose it is."""
    _refuse_if_no_room(hub, ip)
    spec = None
    if board_id != GLOBAL:
        spec = await hub.boards.catalog.spec(hub.pool, board_id)
        if not spec.is_active:
            raise NotFound(f"Board {board_id!r} is not active.")
    return await service.stream_owner(redis, principal, ticket), spec


async def _serve(
    hub: Hub, client: Client, last_event_id: int | None, receive: Any, audience: Audience | None = None
) -> None:
    """Run a client from attach to detach in the connection's own handler (no task of its own while it keeps up)."""
    hub.attach(client, last_event_id, audience)
    try:
        await client.serve(receive)
    finally:
        hub.detach(client)


class EventStream(Response):
    """The live board as Server-Sent Events, served by the connection's handler until either side ends it."""

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: Hub,
        owner: UUID | None,
        limit: int,
        last_event_id: int | None,
        ip: str | None,
        spec: Spec | None = None,
    ) -> None:
        super().__init__()
        self.hub, self.owner, self.limit, self.last_event_id, self.ip = hub, owner, limit, last_event_id, ip
        self.spec = spec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        opening = f"retry: {hub.settings.stream_retry_ms}\n: scoreboard live board\n\n".encode()
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        audience, snapshot = hub.audience(self.spec)
        client = hub.delivery.client(
            scope,
            kind="sse",
            send=send,
            limit=self.limit,
            limits=hub.client_limits,
            snapshot=snapshot,
            user_id=self.owner,
            ip=self.ip,
        )
        await _serve(hub, client, self.last_event_id, receive, audience)


STREAM_ANSWERS = answers(
    (BadRequest, "A ticket and credentials, or a bearer token and an API key, together"),
    (Unauthorized, "Bad credentials, or a ticket unknown, used or expired"),
    (TooManyRequests, "Too many streams from this address"),
    (ServiceUnavailable, "No room, or shutting down; retry elsewhere"),
)


@leaderboard.get(
    "/stream",
    summary="The live board as Server-Sent Events",
    response_class=EventStream,
    status_code=status.HTTP_200_OK,
    responses={200: {"content": {"text/event-stream": {}}}, **STREAM_ANSWERS},
)
async def stream(
    hub: HubDep,
    redis: RedisDep,
    principal: OptionalCaller,
    client: ClientInfo,
    limit: StreamLimit = 10,
    ticket: Ticket = None,
    last_event_id: LastEventIdHeader = None,
    last_event_id_query: LastEventIdQuery = None,
) -> EventStream:
    """`snapshot`, then `score_update` events (the seed's format); with a token or ticket also `my_rank`."""
    owner, _ = await _open(hub, redis, principal, client.ip, ticket, GLOBAL)
    return EventStream(hub, owner, limit, _event_id(last_event_id or last_event_id_query), client.ip)


@boards.get(
    "/{board_id}/stream",
    summary="A board's live current period as Server-Sent Events",
    response_class=EventStream,
    status_code=status.HTTP_200_OK,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **STREAM_ANSWERS,
        **answers((NotFound, "No such board, or it is not active")),
    },
)
async def board_stream(
    board_id: BoardId,
    hub: HubDep,
    redis: RedisDep,
    principal: OptionalCaller,
    client: ClientInfo,
    limit: StreamLimit = 10,
    ticket: Ticket = None,
    last_event_id: LastEventIdHeader = None,
    last_event_id_query: LastEventIdQuery = None,
) -> EventStream:
    """As /api/leaderboard/stream, for the board's current period: events carry `boardId` and `period`.

    `snapshot` (with `periodStartsAt`, `periodEndsAt`), `score_update` (the player's score and rank on this board),
    with a token or ticket `my_rank`; when the period ends, `period_end` (its final top) and the next period's
    `snapshot`. `global` is the /api/leaderboard stream itself.
    """
    owner, spec = await _open(hub, redis, principal, client.ip, ticket, board_id)
    return EventStream(hub, owner, limit, _event_id(last_event_id or last_event_id_query), client.ip, spec)


@leaderboard.post("/stream-ticket", status_code=status.HTTP_201_CREATED, summary="A one-use ticket to open my stream")
async def stream_ticket(user: CurrentUser, hub: HubDep, redis: RedisDep) -> StreamTicket:
    """EventSource cannot send headers: pass this as `?ticket=` within its lifetime, once."""
    if user.user_id is None or user.session_id is None:
        raise Forbidden("Stream tickets are for players.")
    ttl = hub.settings.stream_ticket_ttl_seconds
    return StreamTicket(ticket=await service.issue_ticket(redis, user, ttl), expires_in=ttl)


@leaderboard.websocket("/ws")
async def websocket_stream(
    websocket: WebSocket,
    hub: HubDep,
    redis: RedisDep,
    principal: OptionalCaller,
    client: ClientInfo,
    limit: StreamLimit = 10,
    ticket: Ticket = None,
    last_event_id: LastEventIdQuery = None,
) -> None:
    """The live board over a WebSocket: the same events as the SSE stream, as JSON text messages.

    Refusals (bad query, credentials, no room) are HTTP problem+json answers to the handshake.
    """
    owner, _ = await _open(hub, redis, principal, client.ip, ticket, GLOBAL)
    await _websocket(websocket, hub, owner, limit, _event_id(last_event_id), client.ip, None)


@boards.websocket("/{board_id}/ws")
async def board_websocket(
    websocket: WebSocket,
    board_id: BoardId,
    hub: HubDep,
    redis: RedisDep,
    principal: OptionalCaller,
    client: ClientInfo,
    limit: StreamLimit = 10,
    ticket: Ticket = None,
    last_event_id: LastEventIdQuery = None,
) -> None:
    """A board's live period over a WebSocket: the events of its SSE stream, as JSON text messages."""
    owner, spec = await _open(hub, redis, principal, client.ip, ticket, board_id)
    await _websocket(websocket, hub, owner, limit, _event_id(last_event_id), client.ip, spec)


async def _websocket(
    websocket: WebSocket,
    hub: Hub,
    owner: UUID | None,
    limit: int,
    last_event_id: int | None,
    ip: str | None,
    spec: Spec | None,
) -> None:
    """Serve an accepted stream's events over the WebSocket until either side ends it."""
    await websocket.accept()

    async def send(message: Any) -> None:
        try:
            await websocket.send(message)
        except WebSocketDisconnect as exc:
            raise ConnectionResetError("websocket closed") from exc

    async def finish(reason: str) -> None:
        await send({"type": "websocket.send", "text": events.reconnect(reason, hub.client_limits.retry_ms).text})
        await send({"type": "websocket.close", "code": CLOSE_CODES.get(reason, 1000), "reason": reason})

    async def receive() -> Any:
        try:
            return await websocket.receive()
        except RuntimeError:  # receive after the disconnect message
            return {"type": "websocket.disconnect"}

    audience, snapshot = hub.audience(spec)
    live = hub.delivery.client(
        websocket.scope,
        kind="ws",
        send=send,
        finish=finish,
        limit=limit,
        limits=hub.client_limits,
        snapshot=snapshot,
        user_id=owner,
        ip=ip,
    )
    await _serve(hub, live, last_event_id, receive, audience)


# The board streams sit under /api/boards; both routers are mounted where the live router always was.
routers = (leaderboard, boards)
