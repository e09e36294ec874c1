"""`scoreboard demo` against a real served instance: players and awards through the API, the key revoked after."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

from scoreboard.cli.demo import Policies
from tests.fixtures.cli import SCOREBOARD
from tests.fixtures.processes import sql
from tests.fixtures.served import Service

CATALOG = [
    {"id": "daily-login", "maxPerDay": 1, "cooldownSeconds": None},
    {"id": "complete-quest", "maxPerDay": None, "cooldownSeconds": None},
    {"id": "boss-fight", "maxPerDay": None, "cooldownSeconds": 60},
]


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
    assert "5 demo players ready in" in first.stderr
    assert "(5 created, 0 already there)" in first.stderr
    # Open loop at 10/s for 3 s: 30 sent on schedule, and none refused, since the demo keeps to the daily caps.
    assert "done: 30 awards sent in 3.0 s (10.0/s of 10/s): 30 awarded, 0 refused by policy, 0 failed" in first.stderr
    players = "SELECT count(*) FROM users WHERE username LIKE 'demo-%' AND role = 'player'"
    assert sql(url, players) == 5
    assert sql(url, "SELECT count(*) FROM score_history") == 30
    assert sql(url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == 0
    # Every award went through the API: the board in PostgreSQL balances with the history.
    assert sql(url, "SELECT sum(current_score) FROM users") == sql(url, "SELECT sum(points_awarded) FROM score_history")
    # The page's daily and weekly boards, counted from the same awards.
    assert "boards: global, today, this-week" in first.stderr
    for board in ("today", "this-week"):
        total = f"SELECT sum(score) FROM board_scores WHERE board_id = '{board}'"
        assert sql(url, total) == sql(url, "SELECT sum(points_awarded) FROM score_history")

    again = run_demo(service, "--players", "6", "--rate", "5", "--duration", "1")
    assert again.returncode == 0, again.stderr
    assert "(1 created, 5 already there)" in again.stderr
    assert sql(url, players) == 6


def test_demo_says_when_the_service_is_not_running(service: Service) -> None:
    result = run_demo(service, "--duration", "1", url="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "is not ready" in result.stderr


def test_the_demo_keeps_to_daily_caps_and_cooldowns() -> None:
    policies, now = Policies.of(CATALOG), time.time()
    actions = [a["id"] for a in CATALOG]
    taken = [policies.take("p1", actions, now) for _ in range(40)]
    assert taken.count("daily-login") == 1
    assert taken.count("boss-fight") == 1
    assert taken.count("complete-quest") == 38
    # Another player has their own allowance; the next UTC day and the end of the cooldown free them again.
    assert "daily-login" in {policies.take("p2", actions, now) for _ in range(40)}
    today = datetime.fromtimestamp(now, UTC).date()
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC).timestamp()
    assert {policies.take("p1", actions, tomorrow) for _ in range(40)} == set(actions)


def test_the_demo_learns_from_a_refusal_until_it_is_available_again() -> None:
    policies, now = Policies.of(CATALOG), time.time()
    later = datetime.fromtimestamp(now + 3600, UTC)
    # daily-login was used before this demo ran: the service says when it is possible again.
    policies.refused("p1", "daily-login", later.isoformat().replace("+00:00", "Z"))
    assert "daily-login" not in {policies.take("p1", ["daily-login", "complete-quest"], now) for _ in range(40)}
    assert policies.take("p1", ["daily-login"], now) is None
    assert policies.take("p1", ["daily-login"], now + 3601) == "daily-login"
