"""`scoreboard actions list|add|set|disable` against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

SCOREBOARD = str(Path(sys.executable).with_name("scoreboard"))


def actions(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard actions ...` on `database_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREBOARD_")}
    env.update(SCOREBOARD_DATABASE_URL=database_url, SCOREBOARD_DATA_DIR=str(tmp_path))
    return subprocess.run(
        [SCOREBOARD, "actions", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


async def test_add_set_disable_list(database_url: str, tmp_path: Path, db: asyncpg.Connection) -> None:
    """The catalog changes through the CLI exactly as through the API; errors exit non-zero."""
    listed = actions(database_url, tmp_path, "list")
    assert listed.returncode == 0
    assert "daily-login" in listed.stdout
    added = actions(database_url, tmp_path, "add", "boss", "--name", "Boss", "--points", "40", "--server-only")
    assert added.returncode == 0, added.stderr
    changed = actions(database_url, tmp_path, "set", "boss", "--points", "45", "--cooldown", "60", "--max-per-day", "2")
    assert changed.returncode == 0, changed.stderr
    row = await db.fetchrow(
        "SELECT points, cooldown_seconds, max_per_day, client_reportable FROM actions WHERE id = 'boss'"
    )
    assert tuple(row.values()) == (45, 60, 2, False)
    assert actions(database_url, tmp_path, "set", "boss", "--no-cooldown").returncode == 0
    assert actions(database_url, tmp_path, "disable", "boss").returncode == 0
    assert tuple((await db.fetchrow("SELECT cooldown_seconds, is_active FROM actions WHERE id = 'boss'")).values()) == (
        None,
        False,
    )
    assert "boss" not in actions(database_url, tmp_path, "list").stdout
    assert "boss" in actions(database_url, tmp_path, "list", "--all").stdout
    duplicate = actions(database_url, tmp_path, "add", "boss", "--name", "Again", "--points", "1")
    assert (duplicate.returncode, "already exists" in duplicate.stderr) == (1, True)
    assert actions(database_url, tmp_path, "set", "missing", "--points", "3").returncode == 1
    assert actions(database_url, tmp_path, "add", "bad id", "--name", "x", "--points", "0").returncode == 2
