"""SQL of results: submissions (the audit), each player's standing derived from them, and their checks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import orjson

from scoreboard.db import Connection
from scoreboard.leaderboard import repository as board_sql

_SUBMISSION = (
    "id, board_id, period, user_id, value, rank_value, metadata, api_key_id, idempotency_key, created_at,"
    " removed_at, removed_by, removal_reason"
)

# Which submission stands for a player: the best value, first reached (lowest id), or the latest (highest id). A
# player's submissions are written one at a time under `lock`, so ids follow their times.
_CHOSEN = """
  SELECT DISTINCT ON (r.board_id, r.period, r.user_id)
         r.board_id, r.period, r.user_id, r.value, r.rank_value, r.created_at, r.id
  FROM result_submissions r JOIN boards b ON b.id = r.board_id
  WHERE r.removed_at IS NULL AND {where}
  ORDER BY r.board_id, r.period, r.user_id,
           CASE WHEN b.keep = 'best' THEN r.rank_value END DESC NULLS LAST,
           CASE WHEN b.keep = 'best' THEN r.id ELSE -r.id END
"""


async def board_now(conn: Connection, board_id: str) -> asyncpg.Record | None:
    """The board's rules and the period a submission falls in now (PostgreSQL's clock, as awards)."""
    return await conn.fetchrow(
        """
        SELECT kind, sort, keep, is_active, min_value, max_value,
               board_period(period, time_zone, starts_at, ends_at, now()) AS period
        FROM boards WHERE id = $1
        """,
        board_id,
    )


async def user(conn: Connection, user_id: UUID) -> asyncpg.Record | None:
    """The player's name and whether they are active."""
    return await conn.fetchrow("SELECT username, is_active FROM users WHERE id = $1", user_id)


async def lock(conn: Connection, board_id: str, period: str, user_id: UUID) -> None:
    """Serialise changes to one player's standing on one period (until the transaction ends)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2 || ':' || $3::uuid::text, 8))",
        board_id,
        period,
        user_id,
    )


async def standing(conn: Connection, board_id: str, period: str, user_id: UUID) -> asyncpg.Record | None:
    """The player's standing on a period."""
    return await conn.fetchrow(
        """
        SELECT value, rank_value, reached_at, submission_id FROM result_standings
        WHERE board_id = $1 AND period = $2 AND user_id = $3
        """,
        board_id,
        period,
        user_id,
    )


async def insert(conn: Connection, values: dict[str, Any]) -> asyncpg.Record | None:
    """Record a submission; None when this API key already used the idempotency key."""
    return await conn.fetchrow(
        f"""
        INSERT INTO result_submissions (board_id, period, user_id, value, rank_value, metadata, api_key_id,
                                        idempotency_key, ip_address, user_agent, created_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9::inet, $10, clock_timestamp())
        ON CONFLICT (api_key_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING {_SUBMISSION}
        """,
        values["board_id"],
        values["period"],
        values["user_id"],
        values["value"],
        values["rank_value"],
        values["metadata"],
        values["api_key_id"],
        values["idempotency_key"],
        values["ip"],
        values["user_agent"],
    )


async def prior(conn: Connection, api_key_id: UUID, idempotency_key: str) -> asyncpg.Record | None:
    """The submission an API key made with this idempotency key."""
    return await conn.fetchrow(
        f"SELECT {_SUBMISSION} FROM result_submissions WHERE api_key_id = $1 AND idempotency_key = $2",
        api_key_id,
        idempotency_key,
    )


async def restand(conn: Connection, board_id: str, period: str, user_id: UUID) -> asyncpg.Record | None:
    """Derive the player's standing from their remaining submissions; None when none remain."""
    return await conn.fetchrow(
        f"""
        WITH chosen AS ({_CHOSEN.format(where="r.board_id = $1 AND r.period = $2 AND r.user_id = $3")}),
        gone AS (
          DELETE FROM result_standings
          WHERE board_id = $1 AND period = $2 AND user_id = $3 AND NOT EXISTS (SELECT 1 FROM chosen)
        )
        INSERT INTO result_standings AS s (board_id, period, user_id, value, rank_value, reached_at, submission_id)
        SELECT board_id, period, user_id, value, rank_value, created_at, id FROM chosen
        ON CONFLICT (board_id, period, user_id) DO UPDATE
          SET value = EXCLUDED.value, rank_value = EXCLUDED.rank_value, reached_at = EXCLUDED.reached_at,
              submission_id = EXCLUDED.submission_id
        RETURNING value, rank_value, reached_at, submission_id
        """,
        board_id,
        period,
        user_id,
    )


async def rank(conn: Connection, board_id: str, period: str, rank_value: int) -> int:
    """The rank a value has on a period (PostgreSQL's, when Redis cannot say)."""
    return await board_sql.rank_of(conn, rank_value, board_sql.RESULTS, board_id, period)


async def remove(conn: Connection, submission_id: int, by: UUID, reason: str) -> asyncpg.Record | None:
    """Mark a submission removed (None: no such submission, or removed already)."""
    return await conn.fetchrow(
        f"""
        UPDATE result_submissions SET removed_at = now(), removed_by = $2, removal_reason = $3
        WHERE id = $1 AND removed_at IS NULL
        RETURNING {_SUBMISSION}
        """,
        submission_id,
        by,
        reason,
    )


async def submission(conn: Connection, submission_id: int) -> asyncpg.Record | None:
    """One submission."""
    return await conn.fetchrow(f"SELECT {_SUBMISSION} FROM result_submissions WHERE id = $1", submission_id)


async def submissions(
    conn: Connection, board_id: str, user_id: UUID | None, period: str | None, limit: int
) -> list[asyncpg.Record]:
    """A board's submissions, newest first, of one player or period or all."""
    return await conn.fetch(
        f"""
        SELECT {_SUBMISSION} FROM result_submissions
        WHERE board_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND ($3::varchar IS NULL OR period = $3)
        ORDER BY id DESC LIMIT $4
        """,
        board_id,
        user_id,
        period,
        limit,
    )


async def metadata(conn: Connection, board_id: str, period: str, user_ids: list[UUID]) -> dict[UUID, Any]:
    """The metadata of these players' standing submissions."""
    rows = await conn.fetch(
        """
        SELECT s.user_id, r.metadata FROM result_standings s JOIN result_submissions r ON r.id = s.submission_id
        WHERE s.board_id = $1 AND s.period = $2 AND s.user_id = ANY($3::uuid[]) AND r.metadata IS NOT NULL
        """,
        board_id,
        period,
        user_ids,
    )
    return {r["user_id"]: orjson.loads(r["metadata"]) for r in rows}


async def recount(conn: Connection, board_id: str) -> int:
    """Derive every standing of a board from its submissions again (as `restand` does per player)."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE result_standings IN EXCLUSIVE MODE")
        await conn.execute("DELETE FROM result_standings WHERE board_id = $1", board_id)
        status = await conn.execute(
            f"""
            INSERT INTO result_standings (board_id, period, user_id, value, rank_value, reached_at, submission_id)
            SELECT board_id, period, user_id, value, rank_value, created_at, id
            FROM ({_CHOSEN.format(where="r.board_id = $1")}) chosen
            """,
            board_id,
        )
    return int(status.split()[-1])


async def wrong_standings(conn: Connection) -> list[asyncpg.Record]:
    """Standings that are not what their submissions say (board, period, user, stored, expected submission).

    Periods whose standings the archive retention dropped are left out.
    """
    return await conn.fetch(
        f"""
        WITH kept AS (SELECT DISTINCT board_id, period FROM result_standings),
        chosen AS ({_CHOSEN.format(where="(r.board_id, r.period) IN (SELECT board_id, period FROM kept)")})
        SELECT COALESCE(s.board_id, c.board_id) AS board_id, COALESCE(s.period, c.period) AS period,
               COALESCE(s.user_id, c.user_id) AS user_id, s.submission_id AS stored, c.id AS expected
        FROM result_standings s FULL JOIN chosen c
          ON c.board_id = s.board_id AND c.period = s.period AND c.user_id = s.user_id
        WHERE s.submission_id IS DISTINCT FROM c.id OR s.value IS DISTINCT FROM c.value
           OR s.reached_at IS DISTINCT FROM c.created_at
        ORDER BY 1, 2, 3
        """
    )
