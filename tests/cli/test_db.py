"""`scoreboard db check`, `db history` and `version` against a real database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import asyncpg

from scoreboard import migrate
from scoreboard.embedded.process import free_port
from tests.fixtures.cli import run_scoreboard

(HEAD,) = migrate.head_revisions()


def cli(*args: str, data_dir: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard ARGS` with only a database configured (or nothing)."""
    return run_scoreboard(*args, data_dir=data_dir, database_url=database_url)


async def test_db_check_says_whether_the_database_is_at_head(
    database_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """Exit 0 at head; 1 naming what is pending, or an unknown revision, or no schema; 2 when unreachable."""
    at_head = cli("db", "check", data_dir=tmp_path, database_url=database_url)
    assert (at_head.returncode, at_head.stdout.strip()) == (0, f"the database is at head ({HEAD})")

    await db.execute("UPDATE alembic_version SET version_num = '0002_accounts'")
    behind = cli("db", "check", data_dir=tmp_path, database_url=database_url)
    assert behind.returncode == 1
    pending = migrate.pending_revisions(("0002_accounts",)) or []
    assert pending[0] == "0003_score_updates"
    assert (
        f"the database is at 0002_accounts; {len(pending)} migration(s) pending: {', '.join(pending)}." in behind.stdout
    )
    assert "Run `scoreboard db upgrade`" in behind.stdout

    await db.execute("UPDATE alembic_version SET version_num = '0099_from_a_newer_release'")
    unknown = cli("db", "check", data_dir=tmp_path, database_url=database_url)
    assert unknown.returncode == 1
    assert "at 0099_from_a_newer_release, which this release does not know" in unknown.stdout

    await db.execute("DROP TABLE alembic_version")
    empty = cli("db", "check", data_dir=tmp_path, database_url=database_url)
    assert empty.returncode == 1
    assert "no revision (never migrated)" in empty.stdout
    assert f"{len(migrate.pending_revisions(()) or [])} migration(s) pending: 0001_seed_schema" in empty.stdout

    nowhere = f"postgresql://nobody:secret@127.0.0.1:{free_port()}/scoreboard"
    unreachable = cli("db", "check", data_dir=tmp_path, database_url=nowhere)
    assert unreachable.returncode == 2
    assert "error: cannot read the database's revision" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


async def test_db_history_marks_head_and_the_current_revision(
    database_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """Every revision is listed newest first; head and the database's revision are marked."""
    await db.execute("UPDATE alembic_version SET version_num = '0002_accounts'")
    result = cli("db", "history", data_dir=tmp_path, database_url=database_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(",")[0].split(" -> ")[1].split()[0] for line in lines] == sorted(
        migrate.pending_revisions(()) or [], reverse=True
    )
    assert "(head)" in lines[0]
    assert "(current)" not in lines[0]
    assert [line for line in lines if "(current)" in line] == [
        next(line for line in lines if "-> 0002_accounts " in line)
    ]


def test_version_prints_the_schema_head_and_the_database_revision(database_url: str, tmp_path: Path) -> None:
    """The database line says its revision when reachable, and never starts embedded servers to find out."""
    configured = cli("version", data_dir=tmp_path / "a", database_url=database_url)
    assert configured.returncode == 0
    assert configured.stdout.splitlines()[1:] == [f"schema head: {HEAD}", f"database: {HEAD} (at head)"]

    idle = cli("version", data_dir=tmp_path / "b")
    assert idle.stdout.splitlines()[2] == "database: embedded, not running (not checked)"
    assert not (tmp_path / "b").exists()

    # A live process (this test) that published its embedded servers' URLs, as a running `serve` does.
    running = tmp_path / "c"
    running.mkdir()
    (running / "runtime.json").write_text(json.dumps({"pid": os.getpid(), "database_url": database_url}))
    attached = cli("version", data_dir=running)
    assert attached.stdout.splitlines()[2] == f"database: {HEAD} (at head)"

    down = cli("version", data_dir=tmp_path, database_url=f"postgresql://x:y@127.0.0.1:{free_port()}/z")
    assert down.returncode == 0
    assert down.stdout.splitlines()[2].startswith("database: unreachable (")
