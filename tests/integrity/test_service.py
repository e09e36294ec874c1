"""`check --repair` and a rebuild another process runs: the repair waits for it and checks its board."""

from __future__ import annotations

import asyncpg
from redis.asyncio import Redis

from scoreboard.integrity import service
from scoreboard.integrity.schemas import Check, IntegrityReport
from scoreboard.leaderboard import keys
from tests.fixtures.rebuilds import after_the_other_rebuild, assert_mirrors, mirrored_board


def mirror_check(report: IntegrityReport) -> Check:
    """The report's board-mirror check."""
    return next(c for c in report.checks if c.name == "board-mirror")


async def test_a_repair_waits_for_a_rebuild_another_process_runs_then_checks_its_board(
    database_url: str, redis: Redis, db: asyncpg.Connection
) -> None:
    async with mirrored_board(database_url, redis, db) as (pool, user):
        await redis.delete(keys.BUILT)  # the board no longer mirrors PostgreSQL, and a serving process rebuilds first
        report = await after_the_other_rebuild(redis, service.run(pool, redis, repair=True))
        assert mirror_check(report).count == 1
        assert mirror_check(report).repaired
        await assert_mirrors(pool, redis, user, 100)


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
