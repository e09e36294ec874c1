"""The embedded PostgreSQL's own settings: the slow-statement log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scoreboard.embedded.postgres import EmbeddedPostgres
from tests.fixtures.processes import sql

pytestmark = pytest.mark.slow


def logged(log: Path, text: str, timeout: float = 10) -> bool:
    """Wait until `text` appears in the server log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def test_slow_statements_are_logged_and_the_operators_threshold_is_kept(data_dir: Path) -> None:
    """Statements over 100 ms reach <data dir>/postgres/log; a threshold set with ALTER SYSTEM survives restarts."""
    data_dir.mkdir(parents=True)
    server = EmbeddedPostgres(data_dir, durable=False)
    server.start()
    try:
        url = server.url()
        assert sql(url, "SHOW log_min_duration_statement") == "100ms"
        sql(url, "SELECT pg_sleep(0.15) AS slow_one")
        sql(url, "SELECT 1 AS fast_one")
        log = server.pgdata / "log"
        # asyncpg's extended protocol logs as "duration: 150.2 ms  execute <statement>: SELECT ...".
        assert logged(log, ": SELECT pg_sleep(0.15) AS slow_one"), log.read_text()
        assert "duration: " in log.read_text()
        assert "fast_one" not in log.read_text(errors="replace")

        sql(url, "ALTER SYSTEM SET log_min_duration_statement = 250")
        server.stop()
        server.start()
        assert sql(server.url(), "SHOW log_min_duration_statement") == "250ms"
    finally:
        server.stop()
