"""A live client on its own: what it sends after a gap in the events."""

from __future__ import annotations

import asyncio

from scoreboard.live.events import Event
from tests.fixtures.polling import eventually
from tests.fixtures.sockets import attached, update


async def test_a_snapshot_read_before_a_gap_is_not_sent_after_it() -> None:
    """Redis restored from an older file while a snapshot was read: the client follows the new, lower ids."""
    gate, answers = asyncio.Event(), [1, 100, 5]

    async def snapshot() -> Event:
        event_id = answers.pop(0)
        if event_id == 100:
            await gate.wait()  # read from the old sequence; the gap is found while it is under way
        return Event.build("snapshot", event_id, eventId=event_id, leaderboard=[], totalPlayers=0)

    async with attached(1, snapshot) as streams:
        (client,), (peer,) = streams.clients, streams.peers
        client.resnapshot()
        await asyncio.sleep(0.05)  # the drainer is now waiting for the old sequence's snapshot
        client.resnapshot()
        gate.set()
        await eventually(lambda: asyncio.sleep(0, client in streams.roster.clients))
        client.push(update(6))
        received = b""
        async with asyncio.timeout(5):
            while b"id: 6\n" not in received:
                received += streams.read(peer)
                await asyncio.sleep(0.01)
        assert b"id: 100\n" not in received
        assert received.index(b"id: 5\nevent: snapshot") < received.index(b"id: 6\nevent: score_update")
