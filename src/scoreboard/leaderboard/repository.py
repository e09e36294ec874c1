"""SQL for the board: the fallback reads (same order and ranks as Redis) and the sources Redis is rebuilt from."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from scoreboard.db import Connection


def rank_sql(score: str) -> str:
    """The rank rule in SQL for `score` (an SQL expression): the `leaderboard_rank` function (migration 0005)."""
    # Competition ranking ("1224"), as the board's Lua `rank_of` computes it; tests hold the two to one another.
    return f"leaderboard_rank({score})"


# The board's order, as Redis keeps it: score, then who reached it first (to the millisecond), then id
# (reverse text order, as ZREVRANGE breaks exact ties). Ranks are added to the rows a query returns.
_RANKED = """
WITH ranked AS (
  SELECT id, username, current_score,
         row_number() OVER (ORDER BY current_score DESC,
                                     floor(extract(epoch FROM COALESCE(last_activity_at, created_at)) * 1000),
                                     id::text DESC) AS position,
         count(*) OVER () AS total
  FROM users WHERE is_active
)
"""
_COLUMNS = f"id, username, current_score, {rank_sql('current_score')} AS rank, position, total"


async def page(conn: Connection, offset: int, limit: int) -> list[asyncpg.Record]:
    """Rows in board order."""
    return await conn.fetch(
        f"{_RANKED} SELECT {_COLUMNS} FROM ranked WHERE position > $1 ORDER BY position LIMIT $2", offset, limit
    )


async def around(conn: Connection, user_id: UUID, radius: int) -> list[asyncpg.Record]:
    """The user and up to `radius` neighbours either side."""
    return await conn.fetch(
        f"""{_RANKED}
        SELECT {_COLUMNS} FROM ranked
        WHERE position BETWEEN (SELECT position FROM ranked WHERE id = $1) - $2
                           AND (SELECT position FROM ranked WHERE id = $1) + $2
        ORDER BY position
        """,
        user_id,
        radius,
    )


async def ranks(conn: Connection, user_ids: list[UUID]) -> list[asyncpg.Record]:
    """These users' rows, in board order."""
    return await conn.fetch(
        f"{_RANKED} SELECT {_COLUMNS} FROM ranked WHERE id = ANY($1::uuid[]) ORDER BY position", user_ids
    )


async def score_range(conn: Connection, low: int, high: int, offset: int, limit: int) -> list[asyncpg.Record]:
    """Users with a score in [low, high], highest first."""
    return await conn.fetch(
        f"""{_RANKED}
        SELECT {_COLUMNS} FROM ranked WHERE current_score BETWEEN $1 AND $2
        ORDER BY position OFFSET $3 LIMIT $4
        """,
        low,
        high,
        offset,
        limit,
    )


async def rank_of(conn: Connection, score: int) -> int:
    """The rank `score` has among active users."""
    rank: int = await conn.fetchval(f"SELECT {rank_sql('$1::int')}", score)
    return rank


async def total_players(conn: Connection) -> int:
    """Active users."""
    total: int = await conn.fetchval("SELECT count(*) FROM users WHERE is_active")
    return total


async def score_of(conn: Connection, user_id: UUID) -> int | None:
    """An active user's score."""
    score: int | None = await conn.fetchval("SELECT current_score FROM users WHERE id = $1 AND is_active", user_id)
    return score


async def scores_of(conn: Connection, user_ids: list[UUID]) -> dict[UUID, int]:
    """Active users' scores."""
    rows = await conn.fetch("SELECT id, current_score FROM users WHERE id = ANY($1::uuid[]) AND is_active", user_ids)
    return {row["id"]: row["current_score"] for row in rows}


_MEMBER = "id, username, current_score, COALESCE(last_activity_at, created_at) AS reached, is_active"


async def active_members_after(conn: Connection, after: UUID | None, limit: int) -> list[asyncpg.Record]:
    """One batch of active users by id (keyset), for rebuilds and checks."""
    return await conn.fetch(
        f"""
        SELECT {_MEMBER} FROM users WHERE is_active AND ($1::uuid IS NULL OR id > $1)
        ORDER BY id LIMIT $2
        """,
        after,
        limit,
    )


async def changed_since(conn: Connection, since: datetime, after: UUID | None, limit: int) -> list[asyncpg.Record]:
    """Users changed after (`since`, `after`) in (updated_at, id) order, for the reconciler."""
    return await conn.fetch(
        f"""
        SELECT {_MEMBER}, updated_at FROM users
        WHERE (updated_at, id) > ($1, COALESCE($2::uuid, '00000000-0000-0000-0000-000000000000'))
        ORDER BY updated_at, id LIMIT $3
        """,
        since,
        after,
        limit,
    )


async def members(conn: Connection, user_ids: list[UUID]) -> list[asyncpg.Record]:
    """These users as the board should hold them."""
    return await conn.fetch(f"SELECT {_MEMBER} FROM users WHERE id = ANY($1::uuid[])", user_ids)


async def database_now(conn: Connection) -> datetime:
    """PostgreSQL's clock (watermarks compare with its timestamps, not ours)."""
    now: datetime = await conn.fetchval("SELECT CURRENT_TIMESTAMP")
    return now
