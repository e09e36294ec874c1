"""SQL for the action catalog."""

from __future__ import annotations

from typing import Any

import asyncpg

from scoreboard.db import Connection

COLUMNS = (
    "id, name, description, points, is_active, cooldown_seconds, max_per_day, client_reportable, created_at, updated_at"
)
PATCHABLE = frozenset(
    {"name", "description", "points", "cooldown_seconds", "max_per_day", "client_reportable", "is_active"}
)


async def list_actions(conn: Connection, *, include_inactive: bool) -> list[asyncpg.Record]:
    """Actions by id; only active ones unless asked."""
    return await conn.fetch(f"SELECT {COLUMNS} FROM actions WHERE is_active OR $1 ORDER BY id", include_inactive)


async def insert_action(conn: Connection, values: dict[str, Any]) -> asyncpg.Record:
    """Insert an action; raises UniqueViolationError when the id exists."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO actions (id, name, description, points, cooldown_seconds, max_per_day, client_reportable)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}
        """,
        values["id"],
        values["name"],
        values.get("description"),
        values["points"],
        values.get("cooldown_seconds"),
        values.get("max_per_day"),
        values.get("client_reportable", True),
    )
    assert row is not None
    return row


async def update_action(conn: Connection, action_id: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Apply whitelisted column changes; None when no such action."""
    assert set(changes) <= PATCHABLE
    if not changes:
        return await conn.fetchrow(f"SELECT {COLUMNS} FROM actions WHERE id = $1", action_id)
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    return await conn.fetchrow(
        f"UPDATE actions SET {assignments} WHERE id = $1 RETURNING {COLUMNS}", action_id, *changes.values()
    )
