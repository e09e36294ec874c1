"""SQL for event logs: keyset pages over (created_at, id), newest first, and a player's totals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from scoreboard.db import Connection
from scoreboard.history.cursor import Cursor

# The seed's queries 5 and 8 with keyset paging instead of OFFSET: PostgreSQL turns the row comparison into the
# index condition `created_at <= $3` on idx_score_history_user_created (user_id, created_at DESC), so page 3,000
# costs what page 1 does. `id` breaks ties between awards stamped with the same time.
_HISTORY = """
SELECT sh.id, sh.action_id, a.name AS action_name, sh.points_awarded, sh.reason,
       sh.balance_before, sh.balance_after, sh.created_at
FROM score_history sh
LEFT JOIN actions a ON a.id = sh.action_id
WHERE sh.user_id = $1 {after}
ORDER BY sh.created_at DESC, sh.id DESC
LIMIT $2
"""
# Two statements rather than `$3 IS NULL OR ...`: a prepared statement's generic plan could not use the
# row comparison as an index condition, and deep pages would scan from the top.
HISTORY_FIRST = _HISTORY.format(after="")
HISTORY_AFTER = _HISTORY.format(after="AND (sh.created_at, sh.id) < ($3, $4)")

# The seed's query 7; the last action is read from the top of idx_score_history_user_created.
STATS = """
SELECT count(*) AS total_actions,
       COALESCE(sum(points_awarded), 0) AS total_points,
       round(avg(points_awarded), 2) AS average_points,
       max(points_awarded) AS best_single_action
FROM score_history
WHERE user_id = $1
"""
LAST_ACTION = HISTORY_FIRST.replace("LIMIT $2", "LIMIT 1")

_VIOLATION_COLUMNS = """
r.id, r.user_id, u.username, r.endpoint, r.attempt_count, r.limit_exceeded, host(r.ip_address) AS ip_address,
r.created_at
"""


async def user_exists(conn: Connection, user_id: UUID) -> bool:
    """Whether a user (active or not) exists."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id))


async def history(conn: Connection, user_id: UUID, after: Cursor | None, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` awards of a user older than `after` (from the newest without one)."""
    if after is None:
        return await conn.fetch(HISTORY_FIRST, user_id, limit)
    return await conn.fetch(HISTORY_AFTER, user_id, limit, after.created_at, after.id)


async def stats(conn: Connection, user_id: UUID) -> tuple[asyncpg.Record, asyncpg.Record | None]:
    """A user's totals and their latest award."""
    totals = await conn.fetchrow(STATS, user_id)
    assert totals is not None  # an aggregate always returns one row
    return totals, await conn.fetchrow(LAST_ACTION, user_id)


async def violations(
    conn: Connection, user_id: UUID | None, since: datetime | None, after: Cursor | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` rate-limit violations, newest first, optionally of one user and not before `since`."""
    # Only fixed fragments are joined into the text; every value is a parameter.
    where: list[str] = ["r.limit_exceeded"]
    args: list[object] = [limit]
    if user_id is not None:
        args.append(user_id)
        where.append(f"r.user_id = ${len(args)}")
    if since is not None:
        args.append(since)
        where.append(f"r.created_at >= ${len(args)}")
    if after is not None:
        args.extend((after.created_at, after.id))
        where.append(f"(r.created_at, r.id) < (${len(args) - 1}, ${len(args)})")
    return await conn.fetch(
        f"""
        SELECT {_VIOLATION_COLUMNS}
        FROM rate_limit_audit r JOIN users u ON u.id = r.user_id
        WHERE {" AND ".join(where)}
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT $1
        """,
        *args,
    )
