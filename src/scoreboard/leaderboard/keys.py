"""Redis key names: the seed's, plus the few derived keys the board needs."""

from __future__ import annotations

from uuid import UUID

BOARD = "leaderboard"  # seed: ZSET, score = the user's real score, member = user id
UPDATES = "leaderboard:updates"  # seed: pub/sub channel of score_update messages
USERNAMES = "leaderboard:usernames"  # HASH user id -> username, for top-N messages without PostgreSQL
REACHED = "leaderboard:reached"  # HASH user id -> ms when the user reached their current score (tie order)
SEQUENCE = "leaderboard:seq"  # STRING, the last event id published
SCORE_TTL_SECONDS = 3600  # seed: user:{id}:score expires after an hour


def score_cache(user_id: UUID | str) -> str:
    """Return the seed's per-user score cache key."""
    return f"user:{user_id}:score"
