"""SQL for analytics: the seed's queries 6, 11, 12 and 13 over a window given as a parameter."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from scoreboard.db import Connection

# Windows are computed once by the database (its clock, this transaction's `now()`) and bound as `$1`,
# so `created_at > $1` is a range on idx_score_history_created_at.
ROLLING_START = "SELECT now() - make_interval(days => $1::int)"
# Daily buckets start at a UTC midnight: `days` whole days, today included.
WHOLE_DAYS_START = "SELECT ((now() AT TIME ZONE 'UTC')::date - ($1::int - 1))::timestamp AT TIME ZONE 'UTC'"

TOP_ACTIONS = """
SELECT sh.action_id, a.name AS action_name, count(*) AS frequency, sum(sh.points_awarded) AS total_points
FROM score_history sh
LEFT JOIN actions a ON a.id = sh.action_id
WHERE sh.created_at > $1
GROUP BY sh.action_id, a.name
ORDER BY frequency DESC, total_points DESC, sh.action_id
LIMIT $2
"""

DAILY = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       count(DISTINCT user_id) AS active_users,
       count(*) AS actions,
       sum(points_awarded) AS total_points,
       round(avg(points_awarded), 2) AS avg_points,
       max(points_awarded) AS max_points
FROM score_history
WHERE created_at >= $1
GROUP BY 1
ORDER BY 1 DESC
"""

GROWTH = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS signup_date, count(*) AS new_users, sum(current_score) AS total_score
FROM users
WHERE created_at >= $1
GROUP BY 1
ORDER BY 1 DESC
"""

# The seed's query 13 sorts `recent_points DESC`, where PostgreSQL puts the NULLs of players without recent
# awards first; summing the window before the join leaves those players out and reads only the window's rows.
TOP_PERFORMERS = """
SELECT u.id AS user_id, u.username, u.current_score, r.recent_points, r.recent_actions
FROM (
  SELECT user_id, sum(points_awarded) AS recent_points, count(*) AS recent_actions
  FROM score_history
  WHERE created_at > $1
  GROUP BY user_id
) r
JOIN users u ON u.id = r.user_id
WHERE u.is_active
ORDER BY r.recent_points DESC, r.recent_actions DESC, u.id
LIMIT $2
"""


async def window_start(conn: Connection, days: int, *, whole_days: bool) -> datetime:
    """When a window of `days` days ending now begins: rolling, or at a UTC midnight."""
    since: datetime = await conn.fetchval(WHOLE_DAYS_START if whole_days else ROLLING_START, days)
    return since


async def top_actions(conn: Connection, since: datetime, limit: int) -> list[asyncpg.Record]:
    """Actions by how often they were awarded after `since`."""
    return await conn.fetch(TOP_ACTIONS, since, limit)


async def daily(conn: Connection, since: datetime) -> list[asyncpg.Record]:
    """Awards per UTC day from `since` on."""
    return await conn.fetch(DAILY, since)


async def growth(conn: Connection, since: datetime) -> list[asyncpg.Record]:
    """Sign-ups per UTC day from `since` on."""
    return await conn.fetch(GROWTH, since)


async def top_performers(conn: Connection, since: datetime, limit: int) -> list[asyncpg.Record]:
    """Active players by points earned after `since`."""
    return await conn.fetch(TOP_PERFORMERS, since, limit)
