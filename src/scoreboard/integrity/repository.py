"""SQL for the integrity checks: the seed's queries 14 and 15, each with a total and a bounded sample."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from scoreboard.db import Connection

# Seed query 14 with the history summed per user before the join (same rows, a third of the time on 1M awards:
# one aggregate over score_history instead of a join as wide as it). Users without history stay out, as in the
# seed (their NULL sum compares as unknown): query 15 reports them.
SCORE_MISMATCHES = """
SELECT u.id AS user_id, u.username, u.current_score, h.calculated_score,
       u.current_score - h.calculated_score AS discrepancy, count(*) OVER () AS total
FROM users u
JOIN (SELECT user_id, sum(points_awarded) AS calculated_score FROM score_history GROUP BY user_id) h
  ON h.user_id = u.id
WHERE u.current_score != h.calculated_score
ORDER BY abs(u.current_score - h.calculated_score) DESC, u.id
LIMIT $1
"""

# Seed query 15, first half, as an anti-join: one index probe per scored user instead of joining all history.
SCORE_WITHOUT_HISTORY = """
SELECT u.id AS user_id, u.username, u.current_score, count(*) OVER () AS total
FROM users u
WHERE u.current_score > 0
  AND NOT EXISTS (SELECT 1 FROM score_history sh WHERE sh.user_id = u.id)
ORDER BY u.current_score DESC, u.id
LIMIT $1
"""

# Seed query 15, second half (PostgreSQL plans it as a hash anti-join). The foreign keys forbid these rows;
# they appear only when constraints were bypassed (restores, replication, manual fixes).
HISTORY_WITHOUT_USER = """
SELECT sh.id AS history_id, sh.user_id, sh.action_id, count(*) OVER () AS total
FROM score_history sh
LEFT JOIN users u ON sh.user_id = u.id
WHERE u.id IS NULL
ORDER BY sh.id
LIMIT $1
"""

# The same for actions: awards of an action that is no longer in the catalog.
HISTORY_WITHOUT_ACTION = """
SELECT sh.id AS history_id, sh.user_id, sh.action_id, count(*) OVER () AS total
FROM score_history sh
LEFT JOIN actions a ON sh.action_id = a.id
WHERE a.id IS NULL
ORDER BY sh.id
LIMIT $1
"""

POSTGRES_CHECKS = {
    "score-mismatch": SCORE_MISMATCHES,
    "score-without-history": SCORE_WITHOUT_HISTORY,
    "history-without-user": HISTORY_WITHOUT_USER,
    "history-without-action": HISTORY_WITHOUT_ACTION,
}


async def postgres_findings(conn: Connection, sample: int) -> dict[str, tuple[int, list[asyncpg.Record]]]:
    """Run every PostgreSQL check in one snapshot; per check, the total and up to `sample` rows."""
    found: dict[str, tuple[int, list[asyncpg.Record]]] = {}
    # One snapshot: an award landing between two checks cannot make them contradict each other.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for name, sql in POSTGRES_CHECKS.items():
            # LIMIT 0 would lose the total, so fetch at least one row and drop it if no sample was wanted.
            rows = await conn.fetch(sql, max(sample, 1))
            found[name] = (int(rows[0]["total"]) if rows else 0, rows[:sample])
    return found


async def users_by_id(conn: Connection, user_ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """The users among `user_ids` that exist, with their username and status."""
    rows = await conn.fetch("SELECT id, username, is_active FROM users WHERE id = ANY($1::uuid[])", user_ids)
    return {r["id"]: r for r in rows}
