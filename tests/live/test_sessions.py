"""The seed's session hashes: written in chunks with every field and the TTL, never for a client that left."""

from __future__ import annotations

import re
import time
from typing import Any, Literal
from uuid import uuid4

from redis.asyncio import Redis

from scoreboard.live import sessions
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event

ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def _unused_send(message: Any) -> None:
    raise AssertionError("a session write must not touch the stream")


async def _unused_snapshot() -> Event:
    raise AssertionError("a session write must not read the board")


def _client(*, signed_in: bool, kind: Literal["sse", "ws"] = "sse") -> Client:
    return Client(
        kind=kind,
        send=_unused_send,
        limit=10,
        limits=Limits(queue=4, stall_seconds=1, lifetime_seconds=60, retry_ms=100),
        snapshot=_unused_snapshot,
        user_id=uuid4() if signed_in else None,
    )


async def test_every_session_of_many_chunks_gets_the_seed_fields_and_ttl(redis: Redis) -> None:
    start = time.time()
    clients = [_client(signed_in=i % 3 == 0, kind="ws" if i % 2 else "sse") for i in range(2 * sessions.CHUNK + 7)]
    clients[5].connected_at = 1_764_000_000.75  # 2025-11-24T16:00:00Z

    await sessions.save(redis, clients, "host:42", still=set(clients))

    for client in clients:
        stored = await redis.hgetall(sessions.key(client.id))
        assert stored["user_id"] == (str(client.user_id) if client.user_id else "anonymous")
        assert stored["transport"] == client.kind
        assert stored["instance"] == "host:42"
        assert ISO_SECONDS.fullmatch(stored["connected_at"])
        assert ISO_SECONDS.fullmatch(stored["last_heartbeat"])
        assert 1790 <= await redis.ttl(sessions.key(client.id)) <= 1800
    assert (await redis.hget(sessions.key(clients[5].id), "connected_at")) == "2025-11-24T16:00:00Z"
    assert time.strftime("%Y-%m-%dT%H:%M", time.gmtime(start)) <= (
        await redis.hget(sessions.key(clients[0].id), "last_heartbeat")
    )


async def test_a_client_that_left_is_not_written_back(redis: Redis) -> None:
    stayed, left = _client(signed_in=True), _client(signed_in=False)

    await sessions.save(redis, [stayed, left], "host:1", still={stayed})

    assert await redis.exists(sessions.key(stayed.id)) == 1
    assert await redis.exists(sessions.key(left.id)) == 0


async def test_a_heartbeat_refreshes_the_ttl_and_recreates_a_lost_session(redis: Redis) -> None:
    client = _client(signed_in=True)
    await sessions.save(redis, [client], "host:1", still={client})
    await redis.expire(sessions.key(client.id), 5)
    await sessions.save(redis, [client], "host:1", still={client})
    assert await redis.ttl(sessions.key(client.id)) > 1000

    await redis.delete(sessions.key(client.id))  # Redis restarted without persistence
    await sessions.save(redis, [client], "host:1", still={client})
    assert (await redis.hget(sessions.key(client.id), "user_id")) == str(client.user_id)


async def test_closed_sessions_are_deleted(redis: Redis) -> None:
    clients = [_client(signed_in=False) for _ in range(3)]
    await sessions.save(redis, clients, "host:1", still=set(clients))

    await sessions.close_sessions(redis, [c.id for c in clients[:2]])

    assert [await redis.exists(sessions.key(c.id)) for c in clients] == [0, 0, 1]
