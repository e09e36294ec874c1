"""Redis key names: the seed's, plus the derived keys the board needs (all rebuildable from PostgreSQL)."""

from __future__ import annotations

from uuid import UUID

BOARD = "leaderboard"  # seed: ZSET, score = the user's real score, member = user id
UPDATES = "leaderboard:updates"  # seed: pub/sub channel of score_update messages
RESULTS = "leaderboard:results"  # pub/sub: result_update messages of result boards (a submission or a removal)
REBUILT = "leaderboard:rebuilt"  # pub/sub: a rebuild swapped in a new board (live clients need a snapshot)
# ZSET with the same scores, member = "{9999999999999 - reached_ms:013d}:{user id}": among equal scores,
# ZREVRANGE's reverse-lexicographic order is then "reached the score first" first, then by id.
RANKED = "leaderboard:ranked"
USERNAMES = "leaderboard:usernames"  # HASH user id -> username, for pages without PostgreSQL
REACHED = "leaderboard:reached"  # HASH user id -> ms when the user reached their current score
SEQUENCE = "leaderboard:seq"  # STRING, the last event id published
BUILT = "leaderboard:built"  # STRING, set when a rebuild completes; missing = Redis lost the board
REBUILD_LOCK = "leaderboard:rebuild:lock"
RECONCILER = "leaderboard:reconciler"  # STRING, the process that reconciles now (a lease with a TTL)
# HASH: which PostgreSQL state the board mirrors. `generation` (board_generation's, set by a rebuild) and the newest
# award applied (`history_id`, its `history_at` in µs and `history_user`), which a database restore or reset removes
# or replaces and an older Redis snapshot lacks.
MIRROR = "leaderboard:mirror"
SCORE_TTL_SECONDS = 3600  # seed: user:{id}:score expires after an hour
DERIVED = (BOARD, RANKED, USERNAMES, REACHED)


# Per-user keys derived from PostgreSQL: a rebuild removes them all (they refill from PostgreSQL on use). The last
# are the sessions PostgreSQL vouched for (auth.credentials.vouched_key): a restored database may not have them.
PER_USER = ("user:*:score", "idempotency:*", "auth:session:*")


def family(board_id: str, period: str) -> tuple[str, str, str, str]:
    """The keys of one board's period, shaped as DERIVED, under one hash tag (a Redis Cluster keeps them together)."""
    base = f"board:{{{board_id}:{period}}}"
    return base, f"{base}:ranked", f"{base}:usernames", f"{base}:reached"


FAMILIES = "board:{*"  # SCAN pattern of every period board's keys


def ranked(reached_ms: int, user_id: str) -> str:
    """A RANKED member: among equal scores the reverse-lexicographic order is who reached it first (as Lua `member`)."""
    return f"{9999999999999 - reached_ms:013d}:{user_id}"


def score_cache(user_id: UUID | str) -> str:
    """Return the seed's per-user score cache key."""
    return f"user:{user_id}:score"


def replay(user_id: UUID | str, idempotency_key: str) -> str:
    """Return the key of an idempotent award's cached response."""
    return f"idempotency:{user_id}:{idempotency_key}"
