"""`scoreboard restore PATH`: replace the database with a backup in one transaction, then rebuild Redis from it."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from scoreboard import migrate
from scoreboard.cli.backup import fail, inspect, size, tools_for
from scoreboard.cli.owner import other_owner
from scoreboard.cli.pgtools import Tools, connection
from scoreboard.cli.runtime import _redact, servers
from scoreboard.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from scoreboard.db import Pool

MAGIC = b"PGDMP"  # the first bytes of every pg_dump custom-format archive
_DATA = re.compile(r'processing data for table "([^"]+)"')
_SET = re.compile(rb"SET ([a-z_]+) = .*;\n")
_SCHEMA_PUBLIC = re.compile(r"^\d+; \d+ \d+ SCHEMA - public ", re.MULTILINE)
# The public schema as PostgreSQL >= 15 creates it; pg_dump leaves it out of archives unless it was changed.
_FRESH_PUBLIC = (
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\n"
    "GRANT USAGE ON SCHEMA public TO PUBLIC;\n"
    "COMMENT ON SCHEMA public IS 'standard public schema';\n"
)
# Every table of the old schema, locked in one statement before the DROP. DROP SCHEMA alone locks them one by one, and
# an award holding one table while it reads the next deadlocks with it. A wait that could be a deadlock gives up
# before PostgreSQL's deadlock check (1 s by default), lets the traffic pass and tries again.
_LOCK_OLD_TABLES = """DO $lock$
DECLARE
  tables text := (SELECT string_agg(format('%I.%I', schemaname, tablename), ', ' ORDER BY tablename)
                  FROM pg_tables WHERE schemaname = 'public');
  deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
  IF tables IS NULL THEN RETURN; END IF;
  LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '400ms', true);
      EXECUTE 'LOCK TABLE ' || tables || ' IN ACCESS EXCLUSIVE MODE';
      RETURN;
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
      IF clock_timestamp() > deadline THEN
        RAISE EXCEPTION 'the database''s tables stayed in use for 60 s'
          USING HINT = 'a long transaction holds them (see pg_stat_activity); end it, or stop the service';
      END IF;
      PERFORM pg_sleep(0.05 + random() * 0.1);
    END;
  END LOOP;
END
$lock$;
SET LOCAL lock_timeout = 0;
"""


class AfterRestoreError(Exception):
    """PostgreSQL was restored, but something derived from it could not be brought in line."""


async def after_restore(pool: Pool, redis: Redis, wait_seconds: float = 120.0) -> list[str]:
    """Bring Redis in line with the restored database; return what was done, one line each."""
    from scoreboard.leaderboard import keys, mirror, reconciler, repository

    # A new generation: any service still running on the old board rebuilds too, not only this command's view.
    async with pool.acquire() as conn:
        generation = await repository.new_generation(conn)
    try:
        count = await reconciler.rebuild_mirrored(pool, redis, wait_seconds, stale=True)
    except TimeoutError as exc:
        hint = "run `scoreboard leaderboard rebuild`"
        raise AfterRestoreError(f"another leaderboard rebuild was running; {hint}") from exc
    if count is None:  # a running service noticed the restore first, and its board mirrors the restored database
        players = await redis.zcard(keys.BOARD)
        return [
            f"board generation {generation}",
            f"Redis rebuilt from PostgreSQL by a running service: {players} players on the board",
        ]
    async with pool.acquire() as conn:
        why = await mirror.mismatch(conn, redis)
    if why is not None:
        raise AfterRestoreError(f"Redis still does not mirror the restored database: {why}")
    return [
        f"board generation {generation}",
        f"Redis rebuilt from PostgreSQL: {count} players on the board; score caches and replay records cleared",
    ]


@dataclass(frozen=True)
class Archive:
    """A readable scoreboard backup and the tools that read it."""

    path: Path
    tools: Tools
    toc: str
    revision: tuple[str, ...]


def _checked_file(path: Path) -> Path:
    if not path.exists():
        fail(f"{path} does not exist")
    if not path.is_file():
        fail(f"{path} is not a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(MAGIC))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if head != MAGIC:
        fail(f"{path} is not a pg_dump custom-format archive (as `scoreboard backup` writes)")
    return path


def _open_archive(path: Path, candidates: list[Tools]) -> Archive:
    """Find the first tools that can read the archive (it may come from a newer pg_dump than the server)."""
    problems: list[str] = []
    for tools in candidates:
        listed = subprocess.run(  # noqa: S603 - pg_restore and a path
            [tools.program("pg_restore"), "--list", str(path)], capture_output=True, text=True, check=False
        )
        if listed.returncode != 0:
            problems.append(f"pg_restore {tools.major}: {listed.stderr.strip() or f'exit status {listed.returncode}'}")
            continue
        if not all(f" TABLE public {name} " in listed.stdout for name in ("alembic_version", "users")):
            fail(f"{path} is a PostgreSQL archive but not a scoreboard backup (no users or alembic_version table)")
        data = subprocess.run(  # noqa: S603 - pg_restore and a path
            [tools.program("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        copied = data.split("FROM stdin;\n", 1)[1].split("\\.", 1)[0] if "FROM stdin;\n" in data else ""
        return Archive(path, tools, listed.stdout, tuple(sorted(copied.split())))
    fail(f"cannot read {path}:\n  " + "\n  ".join(problems))


def _forward(source: IO[bytes], sink: IO[bytes], parameters: frozenset[str]) -> None:
    """Copy pg_restore's script, leaving out header SETs of parameters this server lacks (from a newer pg_restore)."""
    for line in iter(source.readline, b""):
        found = _SET.fullmatch(line)
        if found is None or found.group(1).decode() in parameters:
            sink.write(line)
        if line.startswith(b"-- Name: "):
            break  # past the session header: the rest is the archive's own SQL and data
    shutil.copyfileobj(source, sink, 1 << 20)


def _replay(archive: Archive, database_url: str, parameters: frozenset[str]) -> tuple[bool, list[str]]:
    """Drop the public schema and replay the archive into it, all in one transaction; return success and errors."""
    url, env = connection(database_url)
    tools = archive.tools
    prelude = f"BEGIN;\nSET client_min_messages = warning;\n{_LOCK_OLD_TABLES}DROP SCHEMA IF EXISTS public CASCADE;\n"
    if not _SCHEMA_PUBLIC.search(archive.toc):
        prelude += _FRESH_PUBLIC
    errors: list[str] = []
    with tempfile.TemporaryFile("w+") as psql_errors:
        psql = subprocess.Popen(  # noqa: S603 - psql and arguments we built
            [tools.program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password", "-f", "-", "-d", url],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
        )
        dump = subprocess.Popen(  # noqa: S603 - pg_restore and arguments we built
            [tools.program("pg_restore"), "--file=-", "--no-owner", "--verbose", str(archive.path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert psql.stdin is not None
        assert dump.stdout is not None
        assert dump.stderr is not None
        watcher = threading.Thread(target=_watch, args=(dump.stderr, errors), daemon=True)
        watcher.start()
        committed = False
        try:
            psql.stdin.write(prelude.encode())
            _forward(dump.stdout, psql.stdin, parameters)
            # COMMIT only after pg_restore ended well: a truncated script must roll back, not commit half a database.
            if dump.wait() == 0:
                psql.stdin.write(b"COMMIT;\n")
                committed = True
            psql.stdin.close()
        except BrokenPipeError:
            pass  # psql stopped at an error; its message says which
        finally:
            for proc in (dump, psql):
                if proc.poll() is None and not (proc is psql and committed):
                    proc.kill()
            psql.wait()
            dump.wait()
            watcher.join()
        psql_errors.seek(0)
        errors += [line.strip() for line in psql_errors if line.strip()]
    return committed and psql.returncode == 0, errors


def _watch(stream: IO[bytes], errors: list[str]) -> None:
    for raw in stream:
        line = raw.decode(errors="replace")
        found = _DATA.search(line)
        if found:
            typer.echo(f"  table {found.group(1)}")
        elif "error" in line.lower():
            errors.append(line.strip())


def _blockers(base: Settings, settings: Settings, service_connections: int) -> list[str]:
    found = []
    owner = other_owner(settings.data_dir) if base.database_url is None else None
    if owner is not None:
        found.append(f"{owner.describe()} runs the embedded servers of {settings.data_dir}")
    if service_connections:
        found.append(f"{service_connections} connection(s) of a scoreboard service are open on this database")
    return found


async def _finish(settings: Settings) -> list[str]:
    import asyncpg

    from scoreboard.db import create_pool
    from scoreboard.redis import create_redis

    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("ANALYZE")  # fresh tables have no statistics: plan the first queries well
    finally:
        await conn.close()
    pool, redis = await create_pool(settings), create_redis(settings)
    try:
        return ["statistics updated (ANALYZE)", *await after_restore(pool, redis)]
    finally:
        await redis.aclose()
        await pool.close()


def restore(
    path: Annotated[Path, typer.Argument(help="A backup written by `scoreboard backup`")],
    force: Annotated[bool, typer.Option("--force", help="Restore even while a scoreboard service uses it")] = False,
) -> None:
    """Replace the database with a backup (one transaction: all or nothing), then rebuild Redis from it."""
    from redis.exceptions import RedisError

    archive_path = _checked_file(path.expanduser().absolute())
    base = Settings()
    with servers(base) as settings:
        assert settings.database_url is not None
        server = inspect(settings.database_url)
        blockers = _blockers(base, settings, server.service_connections)
        if blockers and not force:
            fail(
                "a running scoreboard service uses this database: "
                + "; ".join(blockers)
                + ". Stop it first, or pass --force (and restart it afterwards)."
            )
        for blocker in blockers:
            typer.echo(f"warning: --force: {blocker}; restart the service after the restore", err=True)
        archive = _open_archive(archive_path, tools_for(server))
        revision = ", ".join(archive.revision) or "none"
        if migrate.pending_revisions(archive.revision) is None:
            fail(
                f"the backup is at schema {revision}, which this release does not know; restore it with the release "
                "that wrote it"
            )
        typer.echo(f"restoring {archive_path} ({size(archive_path)}, schema {revision})")
        typer.echo(f"into {_redact(settings.database_url)} with pg_restore and psql {archive.tools.major}")
        started = time.monotonic()
        ok, errors = _replay(archive, settings.database_url, server.parameters)
        if not ok:
            fail("the restore failed and was rolled back; the database is unchanged:\n  " + "\n  ".join(errors[-8:]))
        typer.echo(f"PostgreSQL restored in {time.monotonic() - started:.1f} s")
        heads = migrate.head_revisions()
        if archive.revision != heads:
            # An older backup: bring it to this release's schema before anything reads it.
            migrate.upgrade(settings.database_url)
            typer.echo(f"schema upgraded from {revision} to {', '.join(heads)}")
        try:
            for line in asyncio.run(_finish(settings)):
                typer.echo(line)
        except (AfterRestoreError, RedisError, OSError) as exc:
            fail(f"PostgreSQL was restored, but Redis was not rebuilt: {exc}")
