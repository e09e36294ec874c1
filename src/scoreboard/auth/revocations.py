"""Re-publish recent session revocations to Redis, so one written while Redis was down still takes effect."""

from __future__ import annotations

import logging

from scoreboard.auth import repository, service
from scoreboard.config import Settings
from scoreboard.db import Pool
from scoreboard.kit.pipelined import Pipelined

log = logging.getLogger(__name__)


async def republish_once(pool: Pool, redis: Pipelined, settings: Settings) -> int:
    """Copy every revocation young enough to matter into Redis; return how many."""
    window = settings.access_token_ttl_seconds + 10
    async with pool.acquire() as conn:
        sessions = await repository.recently_revoked_sessions(conn, window)
    await service.deny_sessions(redis, settings, sessions)
    return len(sessions)
