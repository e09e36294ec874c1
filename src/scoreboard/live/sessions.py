"""The seed's `session:{id}` hashes: one per live connection, kept alive by heartbeats, deleted on disconnect."""

from __future__ import annotations

import logging
from collections.abc import Container, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from uuid import UUID

from redis.asyncio import Redis
from redis.typing import EncodableT

from scoreboard.leaderboard.board import iso_seconds
from scoreboard.live.client import Client

log = logging.getLogger(__name__)
TTL_SECONDS = 1800  # seed: inactive sessions expire after 30 minutes
CHUNK = 500  # sessions per call: Redis runs a call's commands without a break, so calls stay short


def key(session_id: UUID) -> str:
    """Return the seed's key of one live session."""
    return f"session:{session_id}"


# One call per chunk of sessions: through a redis-py pipeline each session cost the event loop two command objects, a
# field dict and a datetime, in stretches that held up awards and broadcasts (docs/performance.md, "Live fan-out").
# The session hashes and their TTL are the same as HSET + EXPIRE per session.
_SAVE = """
local now, instance, ttl = ARGV[1], ARGV[2], ARGV[3]
for i, key in ipairs(KEYS) do
  local at = 3 * i
  redis.call('HSET', key, 'user_id', ARGV[at + 1], 'connected_at', ARGV[at + 2], 'last_heartbeat', now,
    'transport', ARGV[at + 3], 'instance', instance)
  redis.call('EXPIRE', key, ttl)
end
return #KEYS
"""


@lru_cache(maxsize=4096)
def _since(second: int) -> str:
    # Streams open in bursts (a deploy, a Redis restart), so many share a second.
    return iso_seconds(datetime.fromtimestamp(second, UTC))


async def save(redis: Redis, clients: Sequence[Client], instance: str, *, still: Container[Client]) -> None:
    """Write (or re-create, after Redis lost them) the sessions of these clients that are `still` connected."""
    now = iso_seconds(datetime.now(UTC))
    script = redis.register_script(_SAVE)
    for start in range(0, len(clients), CHUNK):
        # Checked per chunk: a client that left while an earlier chunk was written must not come back as a ghost.
        chunk = [client for client in clients[start : start + CHUNK] if client in still]
        if not chunk:
            continue
        args: list[EncodableT] = [now, instance, TTL_SECONDS]
        for client in chunk:
            user = str(client.user_id) if client.user_id else "anonymous"
            args += (user, _since(int(client.connected_at)), client.kind)
        await script(keys=[key(client.id) for client in chunk], args=args)


async def close_sessions(redis: Redis, session_ids: Sequence[UUID]) -> None:
    """Forget connections that ended (if Redis is away, their TTL does)."""
    for start in range(0, len(session_ids), CHUNK):
        await redis.delete(*(key(session_id) for session_id in session_ids[start : start + CHUNK]))
