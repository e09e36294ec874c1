"""`scoreboard config reference`: the configuration table, printed, written into a document, checked."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scoreboard import config_reference
from tests.fixtures.cli import SCOREBOARD, cli_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_prints_writes_and_checks(tmp_path: Path) -> None:
    """`scoreboard config reference` prints the table, --write fixes a stale document, --check says what differs."""
    env = cli_env(tmp_path / "data")
    printed = subprocess.run(
        [SCOREBOARD, "config", "reference", "--section", "live"], env=env, capture_output=True, text=True, timeout=60
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == config_reference.table("live")

    document = tmp_path / "live.md"
    good = (ROOT / "docs" / "live.md").read_text(encoding="utf-8")
    document.write_text(good.replace("| `60` | Lifetime of a one-use stream ticket. |", "| `61` | Old. |"))
    check = [SCOREBOARD, "config", "reference", "--check", str(document)]
    stale = subprocess.run(check, env=env, capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1
    assert f"`SCOREBOARD_STREAM_TICKET_TTL_SECONDS`: {document} says default `61`, the model `60`" in stale.stderr
    write = [SCOREBOARD, "config", "reference", "--write", str(document)]
    assert subprocess.run(write, env=env, capture_output=True, timeout=60).returncode == 0
    assert document.read_text() == good
    assert subprocess.run(check, env=env, capture_output=True, timeout=60).returncode == 0
