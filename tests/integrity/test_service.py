"""`check --repair` and a rebuild another process runs: the repair waits for it and checks its board."""

from __future__ import annotations

import asyncio

import asyncpg
from redis.asyncio import Redis

from scoreboard.integrity import service
from scoreboard.integrity.schemas import Check, IntegrityReport
from scoreboard.leaderboard import keys, mirror, reconciler
from tests.fixtures.factories import award, create_user


def mirror_check(report: IntegrityReport) -> Check:
    """The report's board-mirror check."""
    return next(c for c in report.checks if c.name == "board-mirror")


async def test_a_repair_waits_for_a_rebuild_another_process_runs_then_checks_its_board(
    database_url: str, redis: Redis, db: asyncpg.Connection
) -> None:
    user = await create_user(db)
    await award(db, user, "purchase-item")
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        assert await reconciler.rebuild(pool, redis) is not None
        await redis.delete(keys.BUILT)  # the board no longer mirrors PostgreSQL
        await redis.set(keys.REBUILD_LOCK, "a-service", ex=60)  # and a serving process began rebuilding first
        repairing = asyncio.create_task(service.run(pool, redis, repair=True))
        await asyncio.sleep(0.5)
        assert not repairing.done()  # it waits for the other rebuild instead of reporting a repair it did not make
        await redis.delete(keys.REBUILD_LOCK)  # that rebuild ends, leaving the board as it was: the repair rebuilds
        report = await asyncio.wait_for(repairing, 30)
        assert mirror_check(report).count == 1
        assert mirror_check(report).repaired
        async with pool.acquire() as conn:
            assert await mirror.mismatch(conn, redis) is None
        assert await redis.zscore(keys.BOARD, str(user)) == 100
    finally:
        await pool.close()


async def test_a_rebuild_lock_held_past_the_wait_is_reported_unrepaired(database_url: str, redis: Redis) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        await redis.delete(keys.BUILT)
        await redis.set(keys.REBUILD_LOCK, "a-stuck-service", ex=60)
        report = await service.run(pool, redis, repair=True, rebuild_wait_seconds=0.5)
        assert mirror_check(report).count == 1
        assert not mirror_check(report).repaired
        assert not report.ok
    finally:
        await redis.delete(keys.REBUILD_LOCK)
        await pool.close()
