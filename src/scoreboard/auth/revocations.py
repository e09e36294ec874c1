"""Re-publish recent session revocations to Redis, so one written while Redis was down still takes effect."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from scoreboard.auth import repository, service
from scoreboard.config import Settings
from scoreboard.db import Pool

log = logging.getLogger(__name__)


async def republish_once(pool: Pool, redis: Redis, settings: Settings) -> int:
    """Copy every revocation young enough to matter into Redis; return how many."""
    window = settings.access_token_ttl_seconds + 10
    async with pool.acquire() as conn:
        sessions = await repository.recently_revoked_sessions(conn, window)
    await service.deny_sessions(redis, settings, sessions)
    return len(sessions)


async def republish_forever(pool: Pool, redis: Redis, settings: Settings, every: float = 15.0) -> None:
    """Run `republish_once` every `every` seconds until cancelled; failures are logged and retried."""
    while True:
        try:
            await republish_once(pool, redis, settings)
        except (TimeoutError, OSError, RedisError) as exc:
            log.warning("revocation re-publish skipped: %s", exc)
        except Exception:
            log.exception("revocation re-publish failed")
        await asyncio.sleep(every)
