"""What `scoreboard restore` does to Redis after PostgreSQL is back, with a service rebuilding at the same time."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.cli.restore import AfterRestoreError, after_restore
from scoreboard.leaderboard import keys, mirror, reconciler
from tests.fixtures.factories import award, create_user


async def test_a_rebuild_already_running_is_waited_for_then_checked(
    database_url: str, redis: Redis, db: asyncpg.Connection
) -> None:
    user = await create_user(db)
    await award(db, user, "purchase-item")
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        assert await reconciler.rebuild(pool, redis) is not None
        # A serving process noticed the restore and took the rebuild lock first.
        await redis.set(keys.REBUILD_LOCK, "a-service", ex=60)
        restoring = asyncio.create_task(after_restore(pool, redis))
        await asyncio.sleep(0.5)
        assert not restoring.done()  # it waits for the other rebuild instead of giving up
        # That rebuild ends without mirroring the new generation (it began before it): the command rebuilds itself.
        await redis.delete(keys.REBUILD_LOCK)
        lines = await asyncio.wait_for(restoring, 30)
        assert "Redis rebuilt from PostgreSQL: 1 players" in lines[1]
        async with pool.acquire() as conn:
            assert await mirror.mismatch(conn, redis) is None
        assert await redis.zscore(keys.BOARD, str(user)) == 100
    finally:
        await pool.close()


async def test_a_rebuild_that_never_ends_is_a_clear_error(database_url: str, redis: Redis) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        await redis.set(keys.REBUILD_LOCK, "a-stuck-service", ex=60)
        with pytest.raises(AfterRestoreError, match="another leaderboard rebuild was running"):
            await after_restore(pool, redis, wait_seconds=0.5)
    finally:
        await redis.delete(keys.REBUILD_LOCK)
        await pool.close()
