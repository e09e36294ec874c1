"""The seed's `session:{id}` hashes: one per live connection, kept alive by heartbeats, deleted on disconnect."""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from scoreboard.leaderboard.board import iso_seconds
from scoreboard.live.client import Client

log = logging.getLogger(__name__)
TTL_SECONDS = 1800  # seed: inactive sessions expire after 30 minutes
CHUNK = 1000


def key(session_id: UUID) -> str:
    """Return the seed's key of one live session."""
    return f"session:{session_id}"


def _fields(client: Client, instance: str, heartbeat: str) -> dict[FieldT, EncodableT]:
    return {
        "user_id": str(client.user_id) if client.user_id else "anonymous",
        "connected_at": iso_seconds(datetime.fromtimestamp(client.connected_at, UTC)),
        "last_heartbeat": heartbeat,
        "transport": client.kind,
        "instance": instance,
    }


async def save(redis: Redis, clients: Sequence[Client], instance: str, *, still: Container[Client]) -> None:
    """Write (or re-create, after Redis lost them) the sessions of these clients that are `still` connected."""
    now = iso_seconds(datetime.now(UTC))
    for start in range(0, len(clients), CHUNK):
        # Checked per chunk: a client that left while an earlier chunk was written must not come back as a ghost.
        chunk = [client for client in clients[start : start + CHUNK] if client in still]
        if not chunk:
            continue
        async with redis.pipeline(transaction=False) as pipe:
            for client in chunk:
                pipe.hset(key(client.id), mapping=_fields(client, instance, now))
                pipe.expire(key(client.id), TTL_SECONDS)
            await pipe.execute()


async def close_sessions(redis: Redis, session_ids: Sequence[UUID]) -> None:
    """Forget connections that ended (if Redis is away, their TTL does)."""
    for start in range(0, len(session_ids), CHUNK):
        await redis.delete(*(key(session_id) for session_id in session_ids[start : start + CHUNK]))
