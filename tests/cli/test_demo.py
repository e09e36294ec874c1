"""`scoreboard demo` against a real served instance: players and awards through the API, the key revoked after."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.cli import SCOREBOARD
from tests.fixtures.processes import sql
from tests.fixtures.served import Service


def run_demo(service: Service, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCOREBOARD, "demo", "--url", url or service.base, *args],
        env=service.env,
        cwd=service.cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_demo_creates_players_awards_at_the_rate_and_cleans_up(service: Service) -> None:
    url = service.env["SCOREBOARD_DATABASE_URL"]
    first = run_demo(service, "--players", "5", "--rate", "10", "--duration", "3")
    assert first.returncode == 0, first.stderr
    assert "created 5 demo players (0 already there)" in first.stderr
    assert "done:" in first.stderr
    players = "SELECT count(*) FROM users WHERE username LIKE 'demo-%' AND role = 'player'"
    assert sql(url, players) == 5
    awards = sql(url, "SELECT count(*) FROM score_history")
    assert 15 <= awards <= 35  # 10/s for 3 s, minus policy refusals (daily-login twice, server-only is allowed)
    assert sql(url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == 0
    # Every award went through the API: the board in PostgreSQL balances with the history.
    assert sql(url, "SELECT sum(current_score) FROM users") == sql(url, "SELECT sum(points_awarded) FROM score_history")

    again = run_demo(service, "--players", "6", "--rate", "5", "--duration", "1")
    assert again.returncode == 0, again.stderr
    assert "created 1 demo players (5 already there)" in again.stderr
    assert sql(url, players) == 6


def test_demo_says_when_the_service_is_not_running(service: Service) -> None:
    result = run_demo(service, "--duration", "1", url="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "is not ready" in result.stderr
