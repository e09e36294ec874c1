"""The roster: streams go direct once caught up, and a broadcast never overtakes, duplicates or misdirects a write."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis

from scoreboard.kit.rawsend import ChunkWriter, frame
from scoreboard.kit.spread import Spreader
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event
from scoreboard.live.roster import Roster
from tests.accounts import player
from tests.live.conftest import Live, award, eventually
from tests.live.streams import sse

LIMITS = Limits(queue=64, stall_seconds=5.0, lifetime_seconds=3600.0, retry_ms=3000)


def _update(event_id: int) -> Event:
    rows = [{"rank": 1, "userId": "u0", "score": 10 * event_id, "username": "u"}]
    body = {"type": "score_update", "userId": "u0", "newScore": 10 * event_id, "scoreChange": 10, "actionId": "x"}
    extra = {"rank": 1, "timestamp": "t", "leaderboard": rows, "eventId": event_id}
    return Event.from_message(json.dumps({**body, **extra}))


async def _snapshot() -> Event:
    return Event.build("snapshot", 0, eventId=0, leaderboard=[], totalPlayers=0)


class _Streams:
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
async def _streams(count: int) -> AsyncIterator[_Streams]:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.put_nowait(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0)
    streams = _Streams(Roster())
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
            client = Client(kind="sse", send=send, limit=10, limits=LIMITS, snapshot=_snapshot, writer=writer)
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


async def test_caught_up_clients_go_direct_and_leave_when_they_close_or_are_removed() -> None:
    async with _streams(3) as streams:
        roster, (one, two, three) = streams.roster, streams.clients
        assert set(roster.clients) == {one, two, three}
        assert roster.fds == [t.get_extra_info("socket").fileno() for t in streams.transports]
        one.close("shutdown")
        assert set(roster.clients) == {two, three}
        assert one in roster.others
        roster.remove(two)
        assert roster.clients == [three]
        assert roster.fds == [streams.transports[2].get_extra_info("socket").fileno()]
        assert two not in roster
        assert len(roster) == 2


async def test_a_broadcast_writes_each_socket_once_and_pushes_the_others() -> None:
    async with _streams(3) as streams:
        roster, spreader = streams.roster, Spreader(1)
        lagging = streams.clients[2]
        lagging.close("lifetime")  # off the roster: the event reaches it through push (it is closing: dropped)
        try:
            roster.broadcast(_update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        chunk = _update(1).chunk(10)
        received = [streams.read(peer) for peer in streams.peers]
        assert received[0].endswith(chunk)
        assert received[1].endswith(chunk)
        assert received[0].count(b"event: score_update") == received[1].count(b"event: score_update") == 1
        assert b"score_update" not in received[2]


async def test_bytes_still_in_a_transport_go_out_before_the_event() -> None:
    async with _streams(2) as streams:
        (busy, idle), (busy_transport, _), (busy_peer, idle_peer) = streams.clients, streams.transports, streams.peers
        streams.read(busy_peer)  # the opening snapshot
        backlog = bytes(range(256)) * 4096  # far more than the socket holds: the transport keeps the rest
        busy_transport.write(backlog)
        assert busy_transport.get_write_buffer_size() > 0
        assert busy in streams.roster.clients  # nothing told the roster: the broadcast itself must notice
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(_update(1), spreader)
        finally:
            spreader.close()
        chunk = _update(1).chunk(10)
        received = b""
        async with asyncio.timeout(10):
            while not received.endswith(chunk):
                received += streams.read(busy_peer)
                await asyncio.sleep(0.01)
        assert received == backlog + chunk
        assert streams.read(idle_peer).endswith(chunk)
        assert idle in streams.roster.clients


async def test_a_closing_socket_is_never_written_directly() -> None:
    async with _streams(2) as streams:
        (gone, kept), (gone_transport, _) = streams.clients, streams.transports
        streams.read(streams.peers[0])
        gone_transport.close()  # its descriptor may be another connection's by the time the hub hears of it
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(_update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        assert streams.read(streams.peers[0]) == b""
        assert gone not in streams.roster.clients  # it found out on the way: ended
        assert kept in streams.roster.clients
        assert streams.read(streams.peers[1]).endswith(_update(1).chunk(10))


async def test_a_stream_goes_direct_after_its_snapshot_and_off_the_roster_when_it_ends(live: Live) -> None:
    async with live() as (base, client, hub):
        hub.spread_from = 1
        alice = await player(client)
        async with sse(base) as stream:
            await stream.until("snapshot")
            await eventually(lambda: asyncio.sleep(0, len(hub.roster.clients) == 1))
            written = hub.spreader.jobs
            body = await award(client, alice)
            update = await stream.until("score_update")
            assert (update.data["newScore"], update.id) == (body["newScore"], hub.last_id)
            assert hub.spreader.jobs == written + 1
        await eventually(lambda: asyncio.sleep(0, not hub.clients and len(hub.roster) == 0))


async def test_an_event_a_stream_has_from_its_snapshot_is_not_sent_again(live: Live, redis: Redis) -> None:
    async with live() as (base, client, hub):
        hub.spread_from = 1
        await award(client, await player(client))
        await eventually(lambda: asyncio.sleep(0, hub.last_id is not None))
        assert hub.last_id is not None
        ahead = hub.last_id + 1
        # An award Redis has applied but whose message has not arrived yet: a new stream's snapshot includes it.
        await redis.set("leaderboard:seq", ahead)
        async with sse(base) as stream:
            assert (await stream.until("snapshot")).id == ahead
            await eventually(lambda: asyncio.sleep(0, hub.roster.floor == ahead))
            for event_id in (ahead, ahead + 1):
                await redis.set("leaderboard:seq", event_id)
                await redis.publish("leaderboard:updates", _update(event_id).text)
            assert (await stream.until("score_update")).id == ahead + 1
