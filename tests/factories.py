"""Build rows through the schema's own rules, so tests state intent instead of raw inserts."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from uuid import UUID

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
