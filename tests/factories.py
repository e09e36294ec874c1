"""Build rows through the schema's own rules, so tests state intent instead of raw inserts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

_seq = itertools.count(1)
# A real bcrypt hash shape; factories never log in with it.
DUMMY_HASH = "$2b$04$" + "a" * 53


async def create_user(
    conn: asyncpg.Connection,
    *,
    username: str | None = None,
    email: str | None = None,
    is_active: bool = True,
    created_at: datetime | None = None,
    metadata: str = "{}",
) -> UUID:
    """Insert a user with a zero score and return its id."""
    n = next(_seq)
    username = username or f"player{n}"
    row: Any = await conn.fetchrow(
        """
        INSERT INTO users (username, email, password_hash, is_active, created_at, metadata)
        VALUES ($1, $2, $3, $4, COALESCE($5, CURRENT_TIMESTAMP), $6::jsonb)
        RETURNING id
        """,
        username,
        email or f"{username}@example.com",
        DUMMY_HASH,
        is_active,
        created_at,
        metadata,
    )
    return UUID(str(row["id"]))


async def award(
    conn: asyncpg.Connection,
    user_id: UUID,
    action_id: str,
    *,
    reason: str | None = None,
    at: datetime | None = None,
) -> int:
    """Award an action's points the way the service will: history row and score in one statement."""
    row: Any = await conn.fetchrow(
        """
        WITH a AS (SELECT points FROM actions WHERE id = $2),
        u AS (
          UPDATE users SET current_score = current_score + (SELECT points FROM a),
                           last_activity_at = COALESCE($4, CURRENT_TIMESTAMP)
          WHERE id = $1
          RETURNING current_score
        )
        INSERT INTO score_history
          (user_id, action_id, points_awarded, reason, created_at, balance_before, balance_after)
        SELECT $1, $2, a.points, $3, COALESCE($4, CURRENT_TIMESTAMP), u.current_score - a.points, u.current_score
        FROM a, u
        RETURNING balance_after
        """,
        user_id,
        action_id,
        reason,
        at,
    )
    return int(row["balance_after"])


HISTORY_COLUMNS = ["user_id", "action_id", "points_awarded", "created_at", "balance_before", "balance_after"]


async def bulk_users(conn: asyncpg.Connection, count: int, *, prefix: str = "bulk") -> list[UUID]:
    """COPY `count` active users with zero scores in; return their ids in creation order."""
    ids = [uuid4() for _ in range(count)]
    records = ((uid, f"{prefix}{n}", f"{prefix}{n}@example.com", DUMMY_HASH) for n, uid in enumerate(ids))
    await conn.copy_records_to_table("users", records=records, columns=["id", "username", "email", "password_hash"])
    return ids


async def bulk_history(conn: asyncpg.Connection, counts: dict[UUID, int], *, newest: datetime, step: timedelta) -> int:
    """COPY consistent awards in (chained balances, seed action points), one every `step` per user up to `newest`.

    Users' scores and last activity are set to match, so the integrity check stays clean.
    """
    actions = [(r["id"], r["points"]) for r in await conn.fetch("SELECT id, points FROM actions ORDER BY id")]
    totals: dict[UUID, int] = {}

    def rows() -> Iterator[tuple[UUID, str, int, datetime, int, int]]:
        for user_id, count in counts.items():
            balance = 0
            at = newest - step * count
            for i in range(count):
                action_id, points = actions[i % len(actions)]
                at += step
                yield user_id, action_id, points, at, balance, balance + points
                balance += points
            totals[user_id] = balance

    await conn.copy_records_to_table("score_history", records=rows(), columns=HISTORY_COLUMNS)
    await conn.execute(
        """
        UPDATE users u SET current_score = t.total, last_activity_at = $3
        FROM unnest($1::uuid[], $2::int[]) AS t(id, total) WHERE u.id = t.id
        """,
        list(totals),
        list(totals.values()),
        newest,
    )
    return sum(counts.values())


async def violation(
    conn: asyncpg.Connection,
    user_id: UUID,
    *,
    endpoint: str = "/api/scores",
    attempt_count: int = 11,
    at: datetime | None = None,
    ip: str | None = None,
    limit_exceeded: bool = True,
) -> int:
    """Record a rate-limit refusal in `rate_limit_audit` and return its id."""
    row: Any = await conn.fetchrow(
        """
        INSERT INTO rate_limit_audit (user_id, endpoint, attempt_count, limit_exceeded, created_at, ip_address)
        VALUES ($1, $2, $3, $4, COALESCE($5, CURRENT_TIMESTAMP), $6::inet)
        RETURNING id
        """,
        user_id,
        endpoint,
        attempt_count,
        limit_exceeded,
        at,
        ip,
    )
    return int(row["id"])
