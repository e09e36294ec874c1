"""Live board: `GET /api/leaderboard/stream` (SSE), `/api/leaderboard/ws` (WebSocket), stream tickets."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, WebSocket, status
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from scoreboard.deps import ClientInfo, CurrentUser, HubDep, OptionalCaller, RedisDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import BadRequest, Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized
from scoreboard.kit.routing import Route
from scoreboard.live import events, service
from scoreboard.live.client import Client
from scoreboard.live.hub import MAX_LIMIT, Hub
from scoreboard.live.schemas import StreamTicket

router = APIRouter(prefix="/api/leaderboard", tags=["live"], route_class=Route)
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


async def _serve(hub: Hub, client: Client, last_event_id: int | None, receive: Any) -> None:
    """Run a client from attach to detach in the connection's own handler (no task of its own while it keeps up)."""
    hub.attach(client, last_event_id)
    try:
        await client.serve(receive)
    finally:
        hub.detach(client)


class EventStream(Response):
    """The live board as Server-Sent Events, served by the connection's handler until either side ends it."""

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, owner: UUID | None, limit: int, last_event_id: int | None, ip: str | None) -> None:
        super().__init__()
        self.hub, self.owner, self.limit, self.last_event_id, self.ip = hub, owner, limit, last_event_id, ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        opening = f"retry: {hub.settings.stream_retry_ms}\n: scoreboard live board\n\n".encode()
        await send({"type": "http.response.body", "body": opening, "more_body": True})
        client = hub.delivery.client(
            scope,
            kind="sse",
            send=send,
            limit=self.limit,
            limits=hub.client_limits,
            snapshot=hub.snapshot,
            user_id=self.owner,
            ip=self.ip,
        )
        await _serve(hub, client, self.last_event_id, receive)


@router.get(
    "/stream",
    summary="The live board as Server-Sent Events",
    response_class=EventStream,
    status_code=status.HTTP_200_OK,
    responses={
        200: {"content": {"text/event-stream": {}}},
        **answers(
            (BadRequest, "A ticket and credentials, or a bearer token and an API key, together"),
            (Unauthorized, "Bad credentials, or a ticket unknown, used or expired"),
            (TooManyRequests, "Too many streams from this address"),
            (ServiceUnavailable, "No room, or shutting down; retry elsewhere"),
        ),
    },
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
    _refuse_if_no_room(hub, client.ip)
    owner = await service.stream_owner(redis, principal, ticket)
    return EventStream(hub, owner, limit, _event_id(last_event_id or last_event_id_query), client.ip)


@router.post("/stream-ticket", status_code=status.HTTP_201_CREATED, summary="A one-use ticket to open my stream")
async def stream_ticket(user: CurrentUser, hub: HubDep, redis: RedisDep) -> StreamTicket:
    """EventSource cannot send headers: pass this as `?ticket=` within its lifetime, once."""
    if user.user_id is None or user.session_id is None:
        raise Forbidden("Stream tickets are for players.")
    ttl = hub.settings.stream_ticket_ttl_seconds
    return StreamTicket(ticket=await service.issue_ticket(redis, user, ttl), expires_in=ttl)


@router.websocket("/ws")
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
    _refuse_if_no_room(hub, client.ip)
    owner = await service.stream_owner(redis, principal, ticket)
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

    live = hub.delivery.client(
        websocket.scope,
        kind="ws",
        send=send,
        finish=finish,
        limit=limit,
        limits=hub.client_limits,
        snapshot=hub.snapshot,
        user_id=owner,
        ip=client.ip,
    )
    await _serve(hub, live, _event_id(last_event_id), receive)
