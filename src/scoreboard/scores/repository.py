"""SQL of the award: one statement that checks, locks, updates and records."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from scoreboard.db import Connection

# One round trip, one implicit transaction. The counter upsert applies the action's policy on the locked
# row (ON CONFLICT ... WHERE is re-evaluated on the latest version), the users UPDATE locks the user row
# (serialising concurrent awards: no lost update) and computes the balance, the INSERT records it.
# A replayed idempotency key finds `prior`; a concurrent replay fails the unique index instead.
_CHECK_LOCK_RECORD = """
prior AS (
  SELECT id, action_id, points_awarded, balance_after, created_at FROM score_history
  WHERE $6::varchar IS NOT NULL AND user_id = $1 AND idempotency_key = $6
),
a AS (
  SELECT id, points, cooldown_seconds, max_per_day FROM actions
  WHERE id = $2 AND is_active AND (client_reportable OR $7) AND NOT EXISTS (SELECT 1 FROM prior) {only_if}
),
c AS (
  INSERT INTO user_action_counters AS c (user_id, action_id, last_awarded_at, day, day_count)
  SELECT $1, a.id, now(), (now() AT TIME ZONE 'UTC')::date, 1 FROM a
  WHERE EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active)
  ON CONFLICT (user_id, action_id) DO UPDATE SET
    last_awarded_at = EXCLUDED.last_awarded_at,
    day = EXCLUDED.day,
    day_count = CASE WHEN c.day = EXCLUDED.day THEN c.day_count + 1 ELSE 1 END
  WHERE ((SELECT cooldown_seconds FROM a) IS NULL
         OR c.last_awarded_at <= EXCLUDED.last_awarded_at - make_interval(secs => (SELECT cooldown_seconds FROM a)))
    AND ((SELECT max_per_day FROM a) IS NULL OR c.day <> EXCLUDED.day OR c.day_count < (SELECT max_per_day FROM a))
  RETURNING 1
),
u AS (
  UPDATE users SET current_score = current_score + (SELECT points FROM a), last_activity_at = now()
  WHERE id = $1 AND is_active AND EXISTS (SELECT 1 FROM c)
  RETURNING username, current_score
),
h AS (
  INSERT INTO score_history (user_id, action_id, points_awarded, reason, ip_address, user_agent,
                             balance_before, balance_after, idempotency_key)
  SELECT $1, a.id, a.points, $3, $4::inet, $5, u.current_score - a.points, u.current_score, $6 FROM a, u
  RETURNING id, action_id, points_awarded, balance_after, created_at
)"""
# Which boards count an award's points besides the global one (migration 0007): those `b` writes to.
_COUNTS_POINTS = "bd.is_active AND bd.id <> 'global' AND bd.kind = 'points'"

# Every award: `b` counts it on every other board it belongs to, in the period its time falls in (board_scores).
AWARD = f"""
WITH {_CHECK_LOCK_RECORD.format(only_if="")},
b AS (
  INSERT INTO board_scores AS s (board_id, period, user_id, score, reached_at)
  SELECT bd.id, p.key, $1, a.points, now()
  FROM a, u, boards bd,
       LATERAL (SELECT board_period(bd.period, bd.time_zone, bd.starts_at, bd.ends_at, now()) AS key) p
  WHERE {_COUNTS_POINTS} AND p.key IS NOT NULL AND (bd.action_ids IS NULL OR a.id = ANY (bd.action_ids))
  ON CONFLICT (board_id, period, user_id) DO UPDATE
    SET score = s.score + EXCLUDED.score, reached_at = EXCLUDED.reached_at
  RETURNING board_id, period, score
)
SELECT false AS replayed, h.*, u.username,
       (SELECT json_agg(json_build_array(b.board_id, b.period, b.score,
                        extract(epoch FROM board_period_end(bd.period, bd.time_zone, bd.ends_at, now()))::bigint))
        FROM b JOIN boards bd ON bd.id = b.board_id) AS boards,
       EXISTS (SELECT 1 FROM boards bd WHERE {_COUNTS_POINTS}) AS elsewhere
FROM h, u
UNION ALL
SELECT true, p.*, NULL, NULL, true FROM prior p
"""

# The same award while no other board counts points (the default): PostgreSQL then plans and runs no write to
# `board_scores`. Should such a board exist, it awards nothing and answers one row of NULLs.
AWARD_GLOBAL_ONLY = f"""
WITH others AS (SELECT EXISTS (SELECT 1 FROM boards bd WHERE {_COUNTS_POINTS}) AS found),
{_CHECK_LOCK_RECORD.format(only_if="AND NOT (SELECT found FROM others)")}
SELECT false AS replayed, h.*, u.username, NULL::json AS boards, false AS elsewhere
FROM h, u
UNION ALL
SELECT true, p.*, NULL, NULL, false FROM prior p
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true FROM others WHERE found AND NOT EXISTS (SELECT 1 FROM prior)
"""


class _Hint:
    """Which statement this process tries first: whether the last award found other boards counting points.

    Only a guess at what the next award meets: a wrong one costs a second statement, never a wrong award.
    """

    global_only = False


_hint = _Hint()


async def award(
    conn: Connection,
    *,
    user_id: UUID,
    action_id: str,
    reason: str | None,
    ip: str | None,
    user_agent: str | None,
    idempotency_key: str | None,
    trusted: bool,
) -> asyncpg.Record | None:
    """Award an action in one statement (two when boards were added or removed); None when nothing was awarded."""
    args = (user_id, action_id, reason, ip, user_agent, idempotency_key, trusted)
    if _hint.global_only:
        row = await conn.fetchrow(AWARD_GLOBAL_ONLY, *args)
        if row is None or row["replayed"] is not None:
            return row  # awarded, replayed, or refused (see `why_not`)
    row = await conn.fetchrow(AWARD, *args)
    if row is not None and not row["replayed"]:
        _hint.global_only = not row["elsewhere"]
    return row


async def prior_award(conn: Connection, user_id: UUID, idempotency_key: str) -> asyncpg.Record | None:
    """The award an idempotency key already produced, if any."""
    return await conn.fetchrow(
        """
        SELECT true AS replayed, id, action_id, points_awarded, balance_after, created_at, NULL AS username,
               NULL AS boards
        FROM score_history WHERE user_id = $1 AND idempotency_key = $2
        """,
        user_id,
        idempotency_key,
    )


async def why_not(conn: Connection, user_id: UUID, action_id: str) -> asyncpg.Record:
    """Gather what decides a refusal (only on the failure path)."""
    row = await conn.fetchrow(
        """
        SELECT a.is_active AS action_active, a.client_reportable, a.cooldown_seconds, a.max_per_day,
               u.is_active AS user_active, c.last_awarded_at, c.day, c.day_count,
               (now() AT TIME ZONE 'UTC')::date AS today, now() AS now
        FROM (SELECT 1) one
        LEFT JOIN actions a ON a.id = $2
        LEFT JOIN users u ON u.id = $1
        LEFT JOIN user_action_counters c ON c.user_id = $1 AND c.action_id = $2
        """,
        user_id,
        action_id,
    )
    assert row is not None
    return row
