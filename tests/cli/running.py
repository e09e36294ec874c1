"""Run the `scoreboard` command of this environment as a subprocess, with only the settings a test gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCOREBOARD = str(Path(sys.executable).with_name("scoreboard"))


def run_scoreboard(
    *args: str, data_dir: Path, database_url: str | None = None, redis_url: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `scoreboard ARGS` to completion, without the caller's SCOREBOARD_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREBOARD_")}
    env["SCOREBOARD_DATA_DIR"] = str(data_dir)
    if database_url:
        env["SCOREBOARD_DATABASE_URL"] = database_url
    if redis_url:
        env["SCOREBOARD_REDIS_URL"] = redis_url
    return subprocess.run([SCOREBOARD, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)
