"""What `scoreboard restore` does to Redis after PostgreSQL is back, with a service rebuilding at the same time."""

from __future__ import annotations

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.cli.restore import AfterRestoreError, after_restore
from scoreboard.leaderboard import keys
from tests.fixtures.rebuilds import after_the_other_rebuild, assert_mirrors, mirrored_board


async def test_a_rebuild_already_running_is_waited_for_then_checked(
    database_url: str, redis: Redis, db: asyncpg.Connection
) -> None:
    async with mirrored_board(database_url, redis, db) as (pool, user):
        # A serving process noticed the restore and took the rebuild lock first.
        lines = await after_the_other_rebuild(redis, after_restore(pool, redis))
        assert "Redis rebuilt from PostgreSQL: 1 players" in lines[1]
        await assert_mirrors(pool, redis, user, 100)


async def test_a_rebuild_that_never_ends_is_a_clear_error(database_url: str, redis: Redis) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        await redis.set(keys.REBUILD_LOCK, "a-stuck-service", ex=60)
        with pytest.raises(AfterRestoreError, match="another leaderboard rebuild was running"):
            await after_restore(pool, redis, wait_seconds=0.5)
    finally:
        await redis.delete(keys.REBUILD_LOCK)
        await pool.close()
