"""Redis key names: the seed's, plus the derived keys the board needs (all rebuildable from PostgreSQL)."""

from __future__ import annotations

from uuid import UUID

BOARD = "leaderboard"  # seed: ZSET, score = the user's real score, member = user id
UPDATES = "leaderboard:updates"  # seed: pub/sub channel of score_update messages
# ZSET with the same scores, member = "{9999999999999 - reached_ms:013d}:{user id}": among equal scores,
# ZREVRANGE's reverse-lexicographic order is then "reached the score first" first, then by id.
RANKED = "leaderboard:ranked"
USERNAMES = "leaderboard:usernames"  # HASH user id -> username, for pages without PostgreSQL
REACHED = "leaderboard:reached"  # HASH user id -> ms when the user reached their current score
SEQUENCE = "leaderboard:seq"  # STRING, the last event id published
BUILT = "leaderboard:built"  # STRING, set when a rebuild completes; missing = Redis lost the board
REBUILD_LOCK = "leaderboard:rebuild:lock"
RECONCILER = "leaderboard:reconciler"  # STRING, the process that reconciles now (a lease with a TTL)
SCORE_TTL_SECONDS = 3600  # seed: user:{id}:score expires after an hour
DERIVED = (BOARD, RANKED, USERNAMES, REACHED)


def score_cache(user_id: UUID | str) -> str:
    """Return the seed's per-user score cache key."""
    return f"user:{user_id}:score"
