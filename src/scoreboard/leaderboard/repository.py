"""SQL for the board: the fallback reads (same order and ranks as Redis) and the sources Redis is rebuilt from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from uuid import UUID

import asyncpg

from scoreboard.db import Connection


def rank_sql(score: str) -> str:
    """The rank rule in SQL for `score` (an SQL expression): the `leaderboard_rank` function (migration 0005)."""
    # Competition ranking ("1224"), as the board's Lua `rank_of` computes it; tests hold the two to one another.
    return f"leaderboard_rank({score})"


# When a user reached their score, in whole milliseconds: the board's tie-break (Redis keeps the same number).
_REACHED_MS = "floor(extract(epoch FROM COALESCE(last_activity_at, created_at)) * 1000)::bigint"

# The board's order, as Redis keeps it: score, then who reached it first (to the millisecond), then id
# (reverse text order, as ZREVRANGE breaks exact ties). Ranks are added to the rows a query returns.
_RANKED = f"""
WITH ranked AS (
  SELECT id, username, current_score,
         row_number() OVER (ORDER BY current_score DESC,
                                     {_REACHED_MS},
                                     id::text DESC) AS position,
         count(*) OVER () AS total
  FROM users WHERE is_active
)
"""
_COLUMNS = f"id, username, current_score, {rank_sql('current_score')} AS rank, position, total"


async def page(conn: Connection, offset: int, limit: int) -> list[asyncpg.Record]:
    """Rows in board order (without the player count: `total_players` gives it)."""
    # Not through `_RANKED`: ordered by score first, the seed's idx_users_current_score hands PostgreSQL the rows in
    # order (ties sorted as they come), so a top page reads a few rows, not the whole table (the fallback while a
    # rebuild runs), and the rank is counted for the rows returned only.
    return await conn.fetch(
        f"""
        SELECT id, username, current_score, {rank_sql("current_score")} AS rank
        FROM (
          SELECT id, username, current_score, {_REACHED_MS} AS reached_ms FROM users WHERE is_active
          ORDER BY current_score DESC, reached_ms, id::text DESC OFFSET $1 LIMIT $2
        ) page
        ORDER BY current_score DESC, reached_ms, id::text DESC
        """,
        offset,
        limit,
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


async def generation(conn: Connection) -> UUID:
    """The board generation (migration 0006): changed by a reset, a new database, `scoreboard restore`."""
    value: UUID = await conn.fetchval("SELECT generation FROM board_generation")
    return value


async def new_generation(conn: Connection) -> UUID:
    """Start a new board generation: every Redis board built before it is out of date."""
    value: UUID = await conn.fetchval(
        "UPDATE board_generation SET generation = gen_random_uuid(), changed_at = now() RETURNING generation"
    )
    return value


async def history_row(conn: Connection, history_id: int) -> asyncpg.Record | None:
    """One award's identity: who and when."""
    return await conn.fetchrow("SELECT id, user_id, created_at FROM score_history WHERE id = $1", history_id)


async def newest_award_before(conn: Connection, before: datetime) -> asyncpg.Record | None:
    """The newest award committed before `before` (by id: the sequence's order)."""
    return await conn.fetchrow(
        "SELECT id, user_id, created_at FROM score_history WHERE created_at < $1 ORDER BY id DESC LIMIT 1", before
    )


async def board_rows(conn: Connection, batch: int) -> AsyncIterator[list[asyncpg.Record]]:
    """Every active user as the board loads them (id, score, reach time in ms, username), in batches, from one
    snapshot of the table (a cursor)."""
    # The reach time as the board's order has it (whole milliseconds), computed here: a million rows are a lot of
    # Python datetime arithmetic.
    query = f"""
        SELECT id::text, current_score, {_REACHED_MS}, username FROM users WHERE is_active
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.cursor(query)
        while rows := await cursor.fetch(batch):
            yield rows
