"""Live clients over real TCP without a server: transports of an asyncio server, each with a Client and a peer."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from scoreboard.kit.rawsend import ChunkWriter, frame
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event
from scoreboard.live.roster import Roster
from tests.live.conftest import eventually

LIMITS = Limits(queue=64, stall_seconds=5.0, lifetime_seconds=3600.0, retry_ms=3000)


def update(event_id: int) -> Event:
    """A seed-format score_update with this id, as the hub receives it from Redis."""
    rows = [{"rank": 1, "userId": "u0", "score": 10 * event_id, "username": "u"}]
    body = {"type": "score_update", "userId": "u0", "newScore": 10 * event_id, "scoreChange": 10, "actionId": "x"}
    extra = {"rank": 1, "timestamp": "t", "leaderboard": rows, "eventId": event_id}
    return Event.from_message(json.dumps({**body, **extra}))


async def _snapshot() -> Event:
    return Event.build("snapshot", 0, eventId=0, leaderboard=[], totalPlayers=0)


class Streams:
    """Server-side TCP transports with a Client each (writing like uvicorn's cycle), and the peers' sockets."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.clients: list[Client] = []
        self.transports: list[asyncio.Transport] = []
        self.peers: list[socket.socket] = []

    def read(self, peer: socket.socket) -> bytes:
        """Everything the peer has been sent so far."""
        peer.setblocking(False)
        received = b""
        while True:
            try:
                chunk = peer.recv(1 << 20)
            except BlockingIOError:
                return received
            if not chunk:
                return received
            received += chunk


@asynccontextmanager
async def attached(count: int, snapshot: Callable[[], Awaitable[Event]] = _snapshot) -> AsyncIterator[Streams]:
    """`count` clients on real TCP sockets, attached to a roster of their own; yields once all went direct."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.put_nowait(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0)
    streams = Streams(Roster())
    try:
        for _ in range(count):
            peer = socket.socket()
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            peer.connect(server.sockets[0].getsockname()[:2])
            transport = await accepted.get()
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            cycle = SimpleNamespace(transport=transport, flow=SimpleNamespace(write_paused=False), disconnected=False)

            async def send(message: dict[str, Any], transport: asyncio.Transport = transport) -> None:
                transport.write(frame(message["body"]))

            writer = ChunkWriter(cycle)
            client = Client(kind="sse", send=send, limit=10, limits=LIMITS, snapshot=snapshot, writer=writer)
            streams.roster.add(client)
            client.start(None, None, streams.roster)
            streams.clients.append(client)
            streams.transports.append(transport)
            streams.peers.append(peer)
        await eventually(lambda: asyncio.sleep(0, len(streams.roster.clients) == count))
        yield streams
    finally:
        for transport in streams.transports:
            transport.abort()
        for peer in streams.peers:
            peer.close()
        server.close()
