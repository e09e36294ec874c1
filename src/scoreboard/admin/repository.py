"""SQL for admin user searches."""

from __future__ import annotations

import asyncpg

from scoreboard.db import Connection
from scoreboard.users.repository import PRIVATE_COLUMNS


def _like(query: str) -> str:
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_users(
    conn: Connection, query: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """Users whose username or e-mail contains `query` (all users without one), newest first."""
    pattern = _like(query) if query else None
    where = "($1::text IS NULL OR lower(username) LIKE $1 OR lower(email) LIKE $1)"
    rows = await conn.fetch(
        f"SELECT {PRIVATE_COLUMNS} FROM users WHERE {where} ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
        pattern,
        limit,
        offset,
    )
    total: int = await conn.fetchval(f"SELECT count(*) FROM users WHERE {where}", pattern)
    return rows, total
