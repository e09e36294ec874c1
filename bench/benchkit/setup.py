"""Setting up the service under test: an admin and an API key through the real CLI and API, players through SQL."""

from __future__ import annotations

import secrets
import subprocess

from benchkit.service import Service, http_json


def create_admin(scoreboard: list[str], env: dict[str, str], username: str, password: str) -> None:
    """`users create-admin` through the real CLI (`scoreboard` runs the command line), the password on stdin."""
    email = f"{username}@example.com"
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [*scoreboard, "users", "create-admin", "--username", username, "--email", email, "--password-stdin"],
        input=password + "\n",
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"create-admin failed: {result.stdout}{result.stderr}")


def create_api_key(service: Service, run_id: str, scopes: list[str]) -> tuple[str, str, str]:
    """`users create-admin` on the CLI, log in, `POST /api/admin/api-keys`: (admin username, key, key prefix)."""
    assert service.database_url is not None
    username, password = f"bench_admin_{run_id}", secrets.token_urlsafe(24)
    create_admin(
        service.command(), {**service.env, "SCOREBOARD_DATABASE_URL": service.database_url}, username, password
    )
    tokens = http_json("POST", f"{service.base}/api/auth/login", {"login": username, "password": password})
    bearer = {"Authorization": f"Bearer {tokens['accessToken']}"}
    created = http_json("POST", f"{service.base}/api/admin/api-keys", {"name": "bench", "scopes": scopes}, bearer)
    return username, created["key"], created["prefix"]


async def insert_players(database_url: str, prefix: str, count: int, max_score: int = 0) -> list[str]:
    """Rows straight into `users`: registration is throttled per IP and bcrypt-bound, not what we measure.

    With `max_score`, each player gets a random score in [0, max_score] (ties included), reached at a random time
    between 1 hour and 30 days ago, and that is also the row's `updated_at`: players whose last change is in the
    past, as on a real board, and not a burst of changes the reconciler would re-apply every pass. No
    `score_history` rows go with them, and nothing puts them on the Redis board: rebuild it afterwards.
    """
    import asyncpg
    import bcrypt

    # A real hash of a password nobody knows, so the accounts cannot be logged into.
    password_hash = bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(4)).decode()
    conn = await asyncpg.connect(database_url)
    try:
        if max_score:
            rows = await conn.fetch(
                """
                INSERT INTO users (username, email, password_hash, current_score, created_at, updated_at,
                                   last_activity_at)
                SELECT $1 || g, $1 || g || '@bench.example.com', $2, floor(random() * ($4::int + 1))::int,
                       reached - interval '1 day', reached, reached
                FROM (SELECT g, now() - interval '1 hour' - random() * interval '30 days' AS reached
                      FROM generate_series(1, $3::int) AS g) AS players
                RETURNING id::text
                """,
                prefix,
                password_hash,
                count,
                max_score,
            )
        else:
            rows = await conn.fetch(
                """
                INSERT INTO users (username, email, password_hash)
                SELECT $1 || g, $1 || g || '@bench.example.com', $2 FROM generate_series(1, $3::int) AS g
                RETURNING id::text
                """,
                prefix,
                password_hash,
                count,
            )
    finally:
        await conn.close()
    return [row["id"] for row in rows]
