"""`scoreboard boards list|add|set|disable|backfill` against a real database and Redis."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from tests.fixtures.cli import run_scoreboard
from tests.fixtures.factories import award, create_user


async def test_add_set_disable_list_and_backfill(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection, redis: Redis
) -> None:
    """The catalog changes through the CLI as through the API; bad input exits 2, domain errors 1."""

    def boards(*args: str) -> tuple[int, str, str]:
        done = run_scoreboard("boards", *args, data_dir=tmp_path, database_url=database_url, redis_url=redis_url)
        return done.returncode, done.stdout, done.stderr

    code, out, err = boards("add", "week", "--name", "This week", "--period", "weekly", "--time-zone", "Europe/Paris")
    assert code == 0, err
    assert "week" in out
    assert "Europe/Paris" in out
    code, _, err = boards(
        "add",
        "s1",
        "--name",
        "S1",
        "--period",
        "season",
        "--starts-at",
        "2026-01-01T00:00:00+00:00",
        "--ends-at",
        "2099-01-01T00:00:00+00:00",
        "--action",
        "complete-quest",
    )
    assert code == 0, err
    code, _, err = boards("set", "week", "--action", "complete-quest", "--name", "Quests this week")
    assert code == 0, err
    row = await db.fetchrow("SELECT name, action_ids, time_zone FROM boards WHERE id = 'week'")
    assert tuple(row.values()) == ("Quests this week", ["complete-quest"], "Europe/Paris")
    assert boards("disable", "s1")[0] == 0
    assert await db.fetchval("SELECT is_active FROM boards WHERE id = 's1'") is False
    code, out, _ = boards("list")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["global", "week", "s1"]

    assert boards("add", "week", "--name", "Again", "--period", "daily")[0:1] == (1,)
    assert boards("add", "bad", "--name", "Bad", "--period", "daily", "--time-zone", "Mars/Base")[0] == 2
    assert boards("add", "bad", "--name", "Bad", "--period", "daily", "--action", "no-such")[0] == 1
    assert boards("set", "global", "--name", "G")[0] == 1
    assert boards("set", "missing", "--name", "G")[0] == 1

    someone = await create_user(db)
    await award(db, someone, "complete-quest")
    await award(db, someone, "daily-login")
    code, out, err = boards("backfill", "week")
    assert code == 0, err
    assert "1 standings" in out
    assert await db.fetchval("SELECT score FROM board_scores WHERE board_id = 'week'") == 10
    keys = [k async for k in redis.scan_iter(match="board:{week:*")]
    assert keys, "the current week is reloaded in Redis"


async def test_result_boards_are_added_listed_and_bounded_from_the_command_line(
    database_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """`--kind result` with its sort, keep and bounds; points boards refuse result rules."""

    def boards(*args: str) -> tuple[int, str, str]:
        done = run_scoreboard("boards", *args, data_dir=tmp_path, database_url=database_url)
        return done.returncode, done.stdout, done.stderr

    code, out, err = boards(
        "add", "laps", "--name", "Laps", "--period", "weekly", "--kind", "result", "--sort", "asc", "--min-value", "1"
    )
    assert code == 0, err
    assert "results (best, lowest first)" in out
    assert boards("set", "laps", "--max-value", "600000")[0] == 0
    row = await db.fetchrow("SELECT kind, sort, keep, min_value, max_value FROM boards WHERE id = 'laps'")
    assert tuple(row.values()) == ("result", "asc", "best", 1, 600_000)
    assert boards("set", "laps", "--max-value", "0")[0] == 1  # below minValue
    assert boards("add", "odd", "--name", "Odd", "--period", "daily", "--kind", "sideways")[0] == 2
    assert boards("set", "global", "--min-value", "3")[0] == 1
