"""`scoreboard check [--repair]`: exit 1 on findings, repair Redis, leave PostgreSQL's findings to a human."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from tests.fixtures.cli import run_scoreboard
from tests.fixtures.factories import award, bulk_users


def check(database_url: str, redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard check ...`."""
    return run_scoreboard("check", *args, data_dir=tmp_path, database_url=database_url, redis_url=redis_url)


async def test_find_repair_and_hand_over(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection, redis: Redis
) -> None:
    """Drift exits 1; --repair fixes Redis and exits 0; a PostgreSQL finding exits 1 even with --repair."""
    ann, bob, cat = await bulk_users(db, 3)
    for user in (ann, bob, cat):
        await award(db, user, "complete-quest")
    # Nothing built the board yet: every player is missing from it.
    missing = check(database_url, redis_url, tmp_path)
    assert missing.returncode == 1
    assert "board-missing" in missing.stdout
    assert "repairable: --repair" in missing.stdout
    repaired = check(database_url, redis_url, tmp_path, "--repair")
    assert (repaired.returncode, repaired.stdout.strip().splitlines()[-1]) == (0, "repaired"), repaired.stdout
    clean = check(database_url, redis_url, tmp_path)
    assert (clean.returncode, clean.stdout.strip().splitlines()[-1]) == (0, "no findings"), clean.stdout
    assert await redis.zcard("leaderboard") == 3

    await db.execute("UPDATE users SET current_score = 99 WHERE id = $1", bob)
    await redis.zrem("leaderboard", str(cat))
    found = check(database_url, redis_url, tmp_path, "--repair")
    assert found.returncode == 1
    assert "NEEDS A HUMAN" in found.stdout
    assert f"userId={bob}" in found.stdout
    assert "discrepancy=89" in found.stdout
    assert "-> Find the cause" in found.stdout
    assert "needs attention: score-mismatch" in found.stdout
    assert await redis.zscore("leaderboard", str(cat)) == 10  # the Redis part was still repaired

    as_json = check(database_url, redis_url, tmp_path, "--json", "--sample", "1")
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["ok"] is False
    mismatch = next(c for c in body["checks"] if c["name"] == "score-mismatch")
    assert (mismatch["count"], mismatch["sample"][0]["userId"]) == (1, str(bob))
    assert check(database_url, redis_url, tmp_path, "--sample", "-1").returncode == 2


def test_unreachable_stores_exit_2_not_1(tmp_path: Path) -> None:
    """A check that could not run is not a finding: exit 2 with the reason, no traceback."""
    result = check("postgresql://postgres@127.0.0.1:1/nowhere", "redis://127.0.0.1:1/0", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "could not run the checks" in result.stderr
    assert "Traceback" not in result.stderr
