"""`scoreboard leaderboard rebuild` and `check [--repair]` against real PostgreSQL and Redis."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from tests.fixtures.cli import run_scoreboard


def run(database_url: str, redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard leaderboard ...`."""
    return run_scoreboard("leaderboard", *args, data_dir=tmp_path, database_url=database_url, redis_url=redis_url)


async def test_rebuild_then_check_and_repair(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection, redis: Redis
) -> None:
    """Rebuild fills the board; drift makes check exit 1; --repair fixes it and exits 0."""
    await db.execute(
        """
        INSERT INTO users (username, email, password_hash, current_score)
        SELECT 'cli' || n, 'cli' || n || '@example.com', 'x', n FROM generate_series(1, 50) n
        """
    )
    rebuilt = run(database_url, redis_url, tmp_path, "rebuild")
    assert (rebuilt.returncode, "rebuilt: 50 players" in rebuilt.stdout) == (0, True), rebuilt.stderr
    assert await redis.zcard("leaderboard") == 50
    clean = run(database_url, redis_url, tmp_path, "check")
    assert (clean.returncode, "no drift" in clean.stdout) == (0, True)
    victim = await db.fetchval("SELECT id::text FROM users WHERE username = 'cli7'")
    await redis.zadd("leaderboard", {victim: 700})
    found = run(database_url, redis_url, tmp_path, "check")
    assert (found.returncode, "different: 1" in found.stdout, victim in found.stdout) == (1, True, True)
    repaired = run(database_url, redis_url, tmp_path, "check", "--repair")
    assert (repaired.returncode, "repaired" in repaired.stdout) == (0, True)
    assert await redis.zscore("leaderboard", victim) == 7
    assert run(database_url, redis_url, tmp_path, "check").returncode == 0
