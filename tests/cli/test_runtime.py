"""Where a command finds its stores: its start-up log names the ones it started, and only those."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.fixtures.cli import run_scoreboard


def test_a_postgresql_only_command_logs_no_redis() -> None:
    # Under the system temp folder: embedded PostgreSQL opens the data folder's parents to its own OS user.
    with tempfile.TemporaryDirectory(prefix="scoreboard-test-runtime-") as folder:
        done = run_scoreboard("db", "current", data_dir=Path(folder), timeout=120)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "data folder" in line and "scoreboard.cli.runtime" in line]
    assert "PostgreSQL postgresql://" in line
    assert "Redis" not in line
