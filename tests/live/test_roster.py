"""The roster: streams go direct once caught up, and a broadcast never overtakes, duplicates or misdirects a write."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from scoreboard.kit.spread import Spreader
from tests.fixtures.accounts import player
from tests.fixtures.live import Live, award
from tests.fixtures.polling import eventually
from tests.fixtures.sockets import attached, update
from tests.fixtures.streams import sse


async def test_caught_up_clients_go_direct_and_leave_when_they_close_or_are_removed() -> None:
    async with attached(3) as streams:
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
    async with attached(3) as streams:
        roster, spreader = streams.roster, Spreader(1)
        lagging = streams.clients[2]
        lagging.close("lifetime")  # off the roster: the event reaches it through push (it is closing: dropped)
        try:
            roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        chunk = update(1).chunk(10)
        received = [streams.read(peer) for peer in streams.peers]
        assert received[0].endswith(chunk)
        assert received[1].endswith(chunk)
        assert received[0].count(b"event: score_update") == received[1].count(b"event: score_update") == 1
        assert b"score_update" not in received[2]


async def test_bytes_still_in_a_transport_go_out_before_the_event() -> None:
    async with attached(2) as streams:
        (busy, idle), (busy_transport, _), (busy_peer, idle_peer) = streams.clients, streams.transports, streams.peers
        streams.read(busy_peer)  # the opening snapshot
        backlog = bytes(range(256)) * 4096  # far more than the socket holds: the transport keeps the rest
        busy_transport.write(backlog)
        assert busy_transport.get_write_buffer_size() > 0
        assert busy in streams.roster.clients  # nothing told the roster: the broadcast itself must notice
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        chunk = update(1).chunk(10)
        received = b""
        async with asyncio.timeout(10):
            while not received.endswith(chunk):
                received += streams.read(busy_peer)
                await asyncio.sleep(0.01)
        assert received == backlog + chunk
        assert streams.read(idle_peer).endswith(chunk)
        assert idle in streams.roster.clients


async def test_a_closing_socket_is_never_written_directly() -> None:
    async with attached(2) as streams:
        (gone, kept), (gone_transport, _) = streams.clients, streams.transports
        streams.read(streams.peers[0])
        gone_transport.close()  # its descriptor may be another connection's by the time the hub hears of it
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        assert streams.read(streams.peers[0]) == b""
        assert gone not in streams.roster.clients  # it found out on the way: ended
        assert kept in streams.roster.clients
        assert streams.read(streams.peers[1]).endswith(update(1).chunk(10))


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
                await redis.publish("leaderboard:updates", update(event_id).text)
            assert (await stream.until("score_update")).id == ahead + 1
