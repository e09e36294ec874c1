"""`scoreboard users create-admin` against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from tests.fixtures.accounts import Account, login

SCOREBOARD = str(Path(sys.executable).with_name("scoreboard"))


def create_admin(database_url: str, tmp_path: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """Run the command with the password on stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOREBOARD_")}
    env.update(SCOREBOARD_DATABASE_URL=database_url, SCOREBOARD_DATA_DIR=str(tmp_path), SCOREBOARD_BCRYPT_ROUNDS="4")
    return subprocess.run(
        [SCOREBOARD, "users", "create-admin", *args, "--password-stdin"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_creates_an_admin_who_can_log_in(
    database_url: str, tmp_path: Path, db: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    """The admin exists with role admin and logs in through the API to reach admin routes."""
    result = create_admin(
        database_url, tmp_path, "--username", "boss", "--email", "Boss@Example.com", stdin="long enough pw\n"
    )
    assert result.returncode == 0, result.stderr
    assert "created admin boss" in result.stdout
    assert await db.fetchval("SELECT role FROM users WHERE username = 'boss'") == "admin"
    account = await login(
        client, Account(id=None, username="boss", email="boss@example.com", password="long enough pw")
    )  # type: ignore[arg-type]
    assert (await client.get("/api/admin/users", headers=account.headers)).status_code == 200


async def test_refuses_taken_names_and_weak_passwords(
    database_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """A taken username exits 1; an invalid password or e-mail exits 2; nothing extra is created."""
    assert (
        create_admin(
            database_url, tmp_path, "--username", "boss", "--email", "b@example.com", stdin="long enough pw\n"
        ).returncode
        == 0
    )
    taken = create_admin(
        database_url, tmp_path, "--username", "BOSS", "--email", "c@example.com", stdin="long enough pw\n"
    )
    assert (taken.returncode, "already taken" in taken.stderr) == (1, True)
    weak = create_admin(database_url, tmp_path, "--username", "other", "--email", "o@example.com", stdin="short\n")
    assert weak.returncode == 2
    bad_mail = create_admin(database_url, tmp_path, "--username", "other", "--email", "nope", stdin="long enough pw\n")
    assert bad_mail.returncode == 2
    assert await db.fetchval("SELECT count(*) FROM users") == 1
