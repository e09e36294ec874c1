"""SQL of the boards: the catalog, periods' standings as Redis holds them, backfill and totals (reads: the board's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from scoreboard.db import Connection
from scoreboard.leaderboard import repository as board_sql

_BOARD = (
    "id, name, description, period, time_zone, starts_at, ends_at, action_ids, is_active, created_at, updated_at,"
    " kind, sort, keep, min_value, max_value"
)
_EDITABLE = (
    "name",
    "description",
    "time_zone",
    "starts_at",
    "ends_at",
    "action_ids",
    "is_active",
    "min_value",
    "max_value",
)


async def boards(conn: Connection) -> list[asyncpg.Record]:
    """The whole catalog, `global` first."""
    return await conn.fetch(f"SELECT {_BOARD} FROM boards ORDER BY id <> 'global', created_at, id")


async def board(conn: Connection, board_id: str) -> asyncpg.Record | None:
    """One board."""
    return await conn.fetchrow(f"SELECT {_BOARD} FROM boards WHERE id = $1", board_id)


async def insert(conn: Connection, values: dict[str, Any]) -> asyncpg.Record:
    """Add a board (a taken id raises UniqueViolationError)."""
    names = list(values)
    row = await conn.fetchrow(
        f"""
        INSERT INTO boards ({", ".join(names)}) VALUES ({", ".join(f"${i + 1}" for i in range(len(names)))})
        RETURNING {_BOARD}
        """,
        *values.values(),
    )
    assert row is not None
    return row


async def update(conn: Connection, board_id: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Change a board's editable fields."""
    names = [n for n in changes if n in _EDITABLE]
    sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
    return await conn.fetchrow(
        f"UPDATE boards SET {sets + ', ' if sets else ''}updated_at = now() WHERE id = $1 RETURNING {_BOARD}",
        board_id,
        *(changes[n] for n in names),
    )


async def unknown_actions(conn: Connection, action_ids: list[str]) -> list[str]:
    """Which of these ids name no action."""
    rows = await conn.fetch(
        "SELECT a FROM unnest($1::varchar[]) a WHERE NOT EXISTS (SELECT 1 FROM actions WHERE id = a) ORDER BY a",
        action_ids,
    )
    return [r["a"] for r in rows]


async def zone_known(conn: Connection, zone: str) -> bool:
    """Whether PostgreSQL knows this time zone (it computes the periods)."""
    known: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)", zone)
    return known


async def database_now(conn: Connection) -> datetime:
    """PostgreSQL's clock: periods follow the awards' times, which are its."""
    now: datetime = await conn.fetchval("SELECT CURRENT_TIMESTAMP")
    return now


# Each kind's standings as the board reads and ranks them (leaderboard.repository: one order, one rank rule).
STANDINGS = {"points": board_sql.POINTS, "result": board_sql.RESULTS}
# The standings' tables and the column each ranks by, for the loads and checks below (rows as Redis holds them).
_TABLES = {"points": ("board_scores", "s.score"), "result": ("result_standings", "s.rank_value")}


async def members(
    conn: Connection, board_id: str, period: str, user_ids: list[UUID] | None = None, kind: str = "points"
) -> list[asyncpg.Record]:
    """A period's standings as Redis holds them (id, rank value, reached, username, active), of some users or all."""
    table, ranked = _TABLES[kind]
    return await conn.fetch(
        f"""
        SELECT s.user_id AS id, u.username, {ranked} AS current_score, s.reached_at AS reached, u.is_active
        FROM {table} s JOIN users u ON u.id = s.user_id
        WHERE s.board_id = $1 AND s.period = $2 AND ($3::uuid[] IS NULL OR s.user_id = ANY($3::uuid[]))
        """,
        board_id,
        period,
        user_ids,
    )


async def current_members(conn: Connection, user_ids: list[UUID]) -> list[asyncpg.Record]:
    """These players' standings in the current period of every active board (as `members`, with board and period)."""
    return await conn.fetch(
        """
        SELECT s.board_id, s.period, s.user_id AS id, u.username, s.score AS current_score,
               s.reached_at AS reached, u.is_active
        FROM boards b
        JOIN board_scores s
          ON s.board_id = b.id AND s.period = board_period(b.period, b.time_zone, b.starts_at, b.ends_at, now())
        JOIN users u ON u.id = s.user_id
        WHERE b.is_active AND s.user_id = ANY($1::uuid[])
        """,
        user_ids,
    )


async def stream_members(
    conn: Connection, board_id: str, period: str, batch: int, kind: str = "points"
) -> AsyncIterator[list[Any]]:
    """Every active player of a period as the board loads them (id, rank value, reach time in ms, username)."""
    table, ranked = _TABLES[kind]
    query = f"""
        SELECT s.user_id::text, {ranked}, floor(extract(epoch FROM s.reached_at) * 1000)::bigint, u.username
        FROM {table} s JOIN users u ON u.id = s.user_id AND u.is_active
        WHERE s.board_id = $1 AND s.period = $2
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.cursor(query, board_id, period)
        while rows := await cursor.fetch(batch):
            yield rows


async def backfill(conn: Connection, board_id: str) -> int:
    """Recount every period of a board from score_history (awards wait meanwhile); return the standings written."""
    async with conn.transaction():
        # Awards that commit before the locks are in the history read below; later ones wait and count on top. Every
        # award writes score_history, not every one board_scores (scores/repository.py's global-only statement), so
        # the history is what waits for awards in flight; it is locked first, as awards lock it, so none deadlocks.
        await conn.execute("LOCK TABLE score_history IN SHARE MODE")
        await conn.execute("LOCK TABLE board_scores IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM board_scores WHERE board_id = $1", board_id)
        status = await conn.execute(
            """
            INSERT INTO board_scores (board_id, period, user_id, score, reached_at)
            SELECT $1, key, user_id, sum(points_awarded), max(created_at)
            FROM (
              SELECT h.user_id, h.points_awarded, h.created_at,
                     board_period(b.period, b.time_zone, b.starts_at, b.ends_at, h.created_at) AS key
              FROM score_history h JOIN boards b ON b.id = $1
              WHERE b.action_ids IS NULL OR h.action_id = ANY (b.action_ids)
            ) counted
            WHERE key IS NOT NULL
            GROUP BY key, user_id
            """,
            board_id,
        )
    return int(status.split()[-1])


async def unequal_totals(conn: Connection) -> list[asyncpg.Record]:
    """Periods whose standings do not add up to their awards in score_history (board, period, stored, expected).

    A board changed since it was created (actions, zone, activity: future awards only) is held to its history only
    in the periods that began after the change; inactive boards count nothing and are left out.
    """
    return await conn.fetch(
        """
        WITH checked AS (
          SELECT b.*, board_period(b.period, b.time_zone, b.starts_at, b.ends_at, b.updated_at) AS changed_in
          FROM boards b WHERE b.id <> 'global' AND b.is_active AND b.kind = 'points'
        ),
        expected AS (
          SELECT c.id AS board_id, board_period(c.period, c.time_zone, c.starts_at, c.ends_at, h.created_at) AS period,
                 sum(h.points_awarded) AS total
          FROM checked c JOIN score_history h ON c.action_ids IS NULL OR h.action_id = ANY (c.action_ids)
          GROUP BY 1, 2
        ),
        stored AS (
          SELECT s.board_id, s.period, sum(s.score) AS total
          FROM board_scores s JOIN checked c ON c.id = s.board_id GROUP BY 1, 2
        ),
        compared AS (
          SELECT COALESCE(s.board_id, e.board_id) AS board_id, COALESCE(s.period, e.period) AS period,
                 COALESCE(s.total, 0) AS stored, COALESCE(e.total, 0) AS expected
          FROM stored s FULL JOIN expected e ON e.board_id = s.board_id AND e.period = s.period
        )
        SELECT x.* FROM compared x JOIN checked c ON c.id = x.board_id
        WHERE x.period IS NOT NULL AND x.stored <> x.expected
          AND (c.updated_at = c.created_at OR (c.period IN ('daily', 'weekly', 'monthly') AND x.period > c.changed_in))
        ORDER BY 1, 2
        """
    )


async def drop_archives(conn: Connection, before: datetime) -> int:
    """Delete finished periods' standings whose period is older than `before` (the archive retention).

    Result submissions stay: they are the audit, and `backfill` recounts standings from them.
    """
    removed = 0
    for table in ("board_scores", "result_standings"):
        status = await conn.execute(
            f"""
            DELETE FROM {table} s USING boards b
            WHERE b.id = s.board_id AND b.period IN ('daily', 'weekly', 'monthly')
              AND s.period <> board_period(b.period, b.time_zone, b.starts_at, b.ends_at, now())
              AND s.period < board_period(b.period, b.time_zone, b.starts_at, b.ends_at, $1)
            """,
            before,
        )
        removed += int(status.split()[-1])
    return removed
