"""Which other process runs the embedded servers of a data folder, as its `runtime.json` says."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Owner:
    """A live process that owns a data folder's embedded servers."""

    pid: int
    command: str
    database_url: str | None

    def describe(self) -> str:
        """Say which process this is, for messages."""
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def other_owner(data_dir: Path) -> Owner | None:
    """Return the live process other than this one that runs the embedded servers of `data_dir`, if any."""
    # The owner writes runtime.json once its servers run and removes it when it stops them; a killed owner leaves
    # it behind, hence the liveness check.
    data: object = None
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((data_dir.expanduser().resolve() / "runtime.json").read_text())
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        argv = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    # "python /srv/venv/bin/scoreboard serve --port 8000" reads better as "python scoreboard serve --port 8000".
    command = " ".join([*(Path(part).name for part in argv[:2]), *argv[2:]])
    url = data.get("database_url")
    return Owner(pid, command, url if isinstance(url, str) else None)
