"""SQL for every board: ranked rows and the rank rule (the order and ranks of Redis), and what Redis is rebuilt from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from scoreboard.db import Connection

# When a user reached their score, in whole milliseconds: the board's tie-break (Redis keeps the same number).
_REACHED_MS = "floor(extract(epoch FROM COALESCE(last_activity_at, created_at)) * 1000)::bigint"
# The board's order, as Redis keeps it: rank value (the score; a result's value, negated where the lowest ranks first),
# then who reached it first (to the millisecond), then id (reverse text order, as ZREVRANGE breaks exact ties).
_ORDER = "rank_value DESC, reached_ms, id::text DESC"


@dataclass(frozen=True)
class Standing:
    """Where one board's ranked players are in PostgreSQL: the global board, or a period's standings of a board."""

    # Its active players: id, username, current_score (what a row shows), rank_value, reached_ms. `keyed`: how many
    # leading parameters it reads ($1, $2: the board and the period).
    players: str
    keyed: int = 0

    def rank(self, value: str) -> str:
        """The rank rule in SQL for `value` (an SQL expression): 1 + the players strictly higher."""
        # Competition ranking ("1224"), as the board's Lua `rank_of` computes it; tests hold the two to one another.
        # Only `higher_value` is in scope inside: the columns `value` names are the enclosing query's.
        return (
            f"(SELECT 1 + count(*) FROM (SELECT rank_value AS higher_value FROM ({self.players}) p) higher_ones"
            f" WHERE higher_value > {value})"
        )

    def arg(self, n: int) -> str:
        """The placeholder of the query's `n`th own parameter (after the board and period)."""
        return f"${self.keyed + n}"

    def ranked(self) -> str:
        """A `ranked` CTE: every player in board order, with their position (from 1) and the player count."""
        return f"""
WITH ranked AS (
  SELECT st.*, row_number() OVER (ORDER BY {_ORDER}) AS position, count(*) OVER () AS total
  FROM ({self.players}) st
)
"""

    def columns(self) -> str:
        """A row of `ranked` as reads return it."""
        return f"id, username, current_score, {self.rank('ranked.rank_value')} AS rank, position, total"


GLOBAL = Standing(
    f"""SELECT id, username, current_score, current_score AS rank_value, {_REACHED_MS} AS reached_ms
    FROM users WHERE is_active"""
)
_PERIOD = """SELECT s.user_id AS id, u.username, {shown} AS current_score, {ranked} AS rank_value,
           floor(extract(epoch FROM s.reached_at) * 1000)::bigint AS reached_ms
    FROM {table} s JOIN users u ON u.id = s.user_id AND u.is_active
    WHERE s.board_id = $1 AND s.period = $2"""
# A points board's period (migration 0007), and a result board's (0008: rank_value orders it, value is shown).
POINTS = Standing(_PERIOD.format(shown="s.score", ranked="s.score", table="board_scores"), keyed=2)
RESULTS = Standing(_PERIOD.format(shown="s.value", ranked="s.rank_value", table="result_standings"), keyed=2)


def rank_sql(score: str) -> str:
    """The global board's rank rule in SQL for `score` (an SQL expression)."""
    return GLOBAL.rank(score)


async def page(
    conn: Connection, offset: int, limit: int, standing: Standing = GLOBAL, *key: str
) -> list[asyncpg.Record]:
    """Rows in board order (without the player count: `total` gives it); `key`: the board and period, if any."""
    # Ordered by rank value first, an index on it (the seed's idx_users_current_score; the standings' own) hands
    # PostgreSQL the rows in order, so a top page reads a few rows, not the whole board (the fallback while a
    # rebuild runs), and the rank is counted for the rows returned only.
    return await conn.fetch(
        f"""
        SELECT id, username, current_score, {standing.rank("page.rank_value")} AS rank
        FROM (
          SELECT * FROM ({standing.players}) st ORDER BY {_ORDER} OFFSET {standing.arg(1)} LIMIT {standing.arg(2)}
        ) page
        ORDER BY {_ORDER}
        """,
        *key,
        offset,
        limit,
    )


async def around(
    conn: Connection, user_id: UUID, radius: int, standing: Standing = GLOBAL, *key: str
) -> list[asyncpg.Record]:
    """The user and up to `radius` neighbours either side."""
    user, reach = standing.arg(1), standing.arg(2)
    return await conn.fetch(
        f"""{standing.ranked()}
        SELECT {standing.columns()} FROM ranked
        WHERE position BETWEEN (SELECT position FROM ranked WHERE id = {user}) - {reach}
                           AND (SELECT position FROM ranked WHERE id = {user}) + {reach}
        ORDER BY position
        """,
        *key,
        user_id,
        radius,
    )


async def ranks(conn: Connection, user_ids: list[UUID], standing: Standing = GLOBAL, *key: str) -> list[asyncpg.Record]:
    """These users' rows, in board order."""
    return await conn.fetch(
        f"""{standing.ranked()}
        SELECT {standing.columns()} FROM ranked WHERE id = ANY({standing.arg(1)}::uuid[]) ORDER BY position
        """,
        *key,
        user_ids,
    )


async def total(conn: Connection, standing: Standing = GLOBAL, *key: str) -> int:
    """Ranked players."""
    count: int = await conn.fetchval(f"SELECT count(*) FROM ({standing.players}) st", *key)
    return count


async def score_range(conn: Connection, low: int, high: int, offset: int, limit: int) -> list[asyncpg.Record]:
    """Users with a score in [low, high], highest first."""
    return await conn.fetch(
        f"""{GLOBAL.ranked()}
        SELECT {GLOBAL.columns()} FROM ranked WHERE current_score BETWEEN $1 AND $2
        ORDER BY position OFFSET $3 LIMIT $4
        """,
        low,
        high,
        offset,
        limit,
    )


async def rank_of(conn: Connection, score: int, standing: Standing = GLOBAL, *key: str) -> int:
    """The rank `score` (a rank value) has among the board's players."""
    rank: int = await conn.fetchval(f"SELECT {standing.rank(f'{standing.arg(1)}::bigint')}", *key, score)
    return rank


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
