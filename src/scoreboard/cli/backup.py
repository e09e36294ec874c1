"""`scoreboard backup PATH`: a pg_dump (custom format) of the configured or embedded database."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from scoreboard.cli.pgtools import Tools, ToolsError, connection, usable_tools
from scoreboard.cli.runtime import _redact, servers
from scoreboard.config import Settings

# The application name of the service's connection pool (scoreboard.db.create_pool).
SERVICE_APPLICATION = "scoreboard"
_ERROR_LINE = re.compile(r"error:|FATAL|ERROR|DETAIL|HINT|could not", re.IGNORECASE)


def fail(message: str) -> NoReturn:
    """Print `error: message` on stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@dataclass(frozen=True)
class Server:
    """What a backup or restore needs to know about the PostgreSQL server and database."""

    major: int
    parameters: frozenset[str]
    service_connections: int
    revision: tuple[str, ...]


async def _inspect(database_url: str) -> Server:
    import asyncpg

    from scoreboard.health.repository import applied_revisions

    # A name of its own, so this connection never looks like the service's.
    conn = await asyncpg.connect(database_url, timeout=10, server_settings={"application_name": "scoreboard-cli"})
    try:
        version = int(await conn.fetchval("SHOW server_version_num"))
        names = await conn.fetch("SELECT name FROM pg_settings")
        service = await conn.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()
            """,
            SERVICE_APPLICATION,
        )
        revision = await applied_revisions(conn)
    finally:
        await conn.close()
    return Server(version // 10000, frozenset(r["name"] for r in names), service, revision)


def inspect(database_url: str) -> Server:
    """Connect once and read the server's version, parameters, the service's connections and the schema revision."""
    import asyncpg

    from scoreboard.kit.problems import STORE_ERRORS

    unreachable: tuple[type[Exception], ...] = (*STORE_ERRORS, OSError)
    try:
        return asyncio.run(_inspect(database_url))
    except unreachable as exc:
        fail(f"cannot reach PostgreSQL at {_redact(database_url)}: {exc}")
    except asyncpg.PostgresError as exc:  # e.g. a wrong password or a missing database
        fail(f"cannot read the database at {_redact(database_url)}: {exc}")


def tools_for(server: Server) -> list[Tools]:
    """Return the client program folders new enough for `server`, or exit with what was found."""
    try:
        return usable_tools(server.major)
    except ToolsError as exc:
        fail(str(exc))


def run_with_progress(
    command: Sequence[str], env: dict[str, str], progress: re.Pattern[str], label: str
) -> tuple[int, list[str]]:
    """Run a PostgreSQL program with --verbose, print one line per table it reports; return its code and errors."""
    errors: list[str] = []
    proc = subprocess.Popen(  # noqa: S603 - a PostgreSQL program and arguments we built
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    with proc:
        for line in proc.stderr:
            found = progress.search(line)
            if found:
                typer.echo(f"  {label} {found.group(1)}")
            elif _ERROR_LINE.search(line):
                errors.append(line.strip())
    return proc.returncode, errors or [f"exit status {proc.returncode}"]


def size(path: Path) -> str:
    """Return the file's size for people."""
    value = float(path.stat().st_size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _target(path: Path) -> Path:
    target = path.expanduser().absolute()
    if target.is_dir():
        fail(f"{path} is a folder: give a file name, e.g. {path / 'scoreboard.dump'}")
    if not target.parent.is_dir():
        fail(f"cannot write {path}: the folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        fail(f"cannot write {path}: no permission to write in {target.parent}")
    return target


def backup(
    path: Annotated[Path, typer.Argument(help="File to write (replaced once the backup is complete)")],
) -> None:
    """Back up the database with pg_dump (custom format); Redis is rebuilt from it, so it is not saved."""
    target = _target(path)
    # Written beside the target and renamed at the end: a failed backup never replaces a good one.
    partial = target.with_name(f".{target.name}.partial")
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        server = inspect(settings.database_url)
        if not server.revision:
            # Most likely the wrong data folder or URL: an empty backup would look like a good one until needed.
            fail(f"{_redact(settings.database_url)} holds no scoreboard schema (never migrated); nothing backed up")
        tools = tools_for(server)[0]
        revision = ", ".join(server.revision)
        typer.echo(f"backing up {_redact(settings.database_url)} (PostgreSQL {server.major}, schema {revision})")
        typer.echo(f"using pg_dump {tools.major} from {tools.folder}")
        url, env = connection(settings.database_url)
        try:
            # The dump holds password hashes and tokens' digests: readable by its owner only.
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror}")
        started = time.monotonic()
        command = [
            tools.program("pg_dump"),
            "--format=custom",
            "--verbose",
            "--no-password",
            f"--file={partial}",
            f"--dbname={url}",
        ]
        try:
            code, errors = run_with_progress(command, env, re.compile(r'dumping contents of table "([^"]+)"'), "table")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if code != 0:
            partial.unlink(missing_ok=True)
            fail("pg_dump failed; nothing was written:\n  " + "\n  ".join(errors[-5:]))
        partial.chmod(0o600)
        os.replace(partial, target)
    typer.echo(f"backup written: {target} ({size(target)}, {time.monotonic() - started:.1f} s)")
