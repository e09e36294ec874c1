"""Helpers for tests that start real server processes: find them, check they are gone, query them."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest


def alive(pid: int) -> bool:
    """Tell whether `pid` runs; a zombie (unreaped by a container's init) counts as dead."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def servers_on(folder: Path) -> list[psutil.Process]:
    """Return the live postgres and valkey processes whose command line or cwd is inside `folder`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE or not any(n in (info["name"] or "") for n in ("postgres", "valkey")):
            continue
        if any(str(folder) in part for part in [*(info["cmdline"] or []), info["cwd"] or ""]):
            found.append(proc)
    return found


def sql(url: str, query: str, *args: object) -> Any:
    """Run one statement on a fresh connection and return its first value."""

    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Yield a data folder under the system temp folder; kill and remove whatever the test left."""
    # Not under tmp_path: every pytest session started as root chmods /tmp/pytest-of-root back to 0700,
    # which would lock the PostgreSQL OS user out of its data folder while another session runs.
    parent = Path(tempfile.mkdtemp(prefix="scoreboard-embedded-"))
    yield parent / "data"
    for proc in servers_on(parent):
        proc.kill()
    shutil.rmtree(parent, ignore_errors=True)
