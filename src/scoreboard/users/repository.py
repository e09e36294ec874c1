"""SQL for users' own data and profiles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import orjson

from scoreboard.db import Connection
from scoreboard.leaderboard.repository import rank_sql

PRIVATE_COLUMNS = (
    "id, username, email, role, current_score, is_active, created_at, updated_at, last_activity_at, metadata"
)


def to_dict(row: asyncpg.Record) -> dict[str, Any]:
    """Turn a user row into schema fields."""
    data = dict(row)
    data["score"] = data.pop("current_score")
    metadata = data.get("metadata")
    data["metadata"] = orjson.loads(metadata) if isinstance(metadata, str) else (metadata or {})
    return data


async def private_user(conn: Connection, user_id: UUID) -> asyncpg.Record | None:
    """Return an active user's own view."""
    return await conn.fetchrow(f"SELECT {PRIVATE_COLUMNS} FROM users WHERE id = $1 AND is_active", user_id)


async def update_user(conn: Connection, user_id: UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Apply whitelisted changes (keys are column names chosen by the service, never by the client)."""
    allowed = {"username", "email", "metadata"}
    assert set(changes) <= allowed
    assignments = ", ".join(
        f"{column} = ${i}{'::jsonb' if column == 'metadata' else ''}" for i, column in enumerate(changes, start=2)
    )
    values = [orjson.dumps(v).decode() if k == "metadata" else v for k, v in changes.items()]
    return await conn.fetchrow(
        f"UPDATE users SET {assignments} WHERE id = $1 AND is_active RETURNING {PRIVATE_COLUMNS}",
        user_id,
        *values,
    )


async def set_active(conn: Connection, user_id: UUID, active: bool) -> asyncpg.Record | None:
    """Deactivate (soft delete) or reactivate a user."""
    return await conn.fetchrow(
        f"UPDATE users SET is_active = $2 WHERE id = $1 RETURNING {PRIVATE_COLUMNS}", user_id, active
    )


async def public_profile(conn: Connection, user_id: UUID) -> asyncpg.Record | None:
    """Return a player's public profile with their rank (the board's rule)."""
    return await conn.fetchrow(
        f"""
        SELECT u.id, u.username, u.current_score, u.created_at, {rank_sql("u.current_score")} AS rank
        FROM users u WHERE u.id = $1 AND u.is_active
        """,
        user_id,
    )
