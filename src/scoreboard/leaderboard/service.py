"""Board reads: Redis first, PostgreSQL (same order, same ranks) when Redis is unavailable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal, TypeVar
from uuid import UUID
from weakref import WeakKeyDictionary

import asyncpg
from redis.exceptions import RedisError, ResponseError

from scoreboard.db import Connection, Pool
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import NotFound
from scoreboard.leaderboard import keys, repository
from scoreboard.leaderboard.board import Board, Entry, Member, Page
from scoreboard.leaderboard.schemas import BoardPage, UserRank

log = logging.getLogger(__name__)
Source = Literal["redis", "postgres"]
T = TypeVar("T")


def _from_rows(rows: list[asyncpg.Record], total: int) -> Page:
    return Page([Entry(r["id"], r["username"], r["current_score"], r["rank"]) for r in rows], total)


Count = Callable[[Connection], Awaitable[int]]

# While a rebuild runs, every board read comes from PostgreSQL, and counting a board's players (all of them) costs
# far more than reading its page: the count is reused for this long then, so the rebuild keeps the machine's CPU.
REUSE_COUNT_SECONDS = 1.0
# Per board object (each app holds its own, and a finished period's board goes with it).
_counted: WeakKeyDictionary[Board, tuple[float, int]] = WeakKeyDictionary()


def _reused(board: Board, count: Count) -> Count:
    """`count` of `board`, answered from one counted at most REUSE_COUNT_SECONDS ago."""

    async def counted(conn: Connection) -> int:
        found = _counted.get(board)
        if found is not None and time.monotonic() - found[0] < REUSE_COUNT_SECONDS:
            return found[1]
        total = await count(conn)
        _counted[board] = (time.monotonic(), total)
        return total

    return counted


def rebuilding(exc: RedisError) -> bool:
    """Whether Redis refused because the board is being rebuilt (rather than being unreachable)."""
    return isinstance(exc, ResponseError) and str(exc).startswith("NOTBUILT")


async def read(
    board: Board,
    pool: Pool,
    fast: Callable[[Board], Awaitable[Page]],
    slow: Callable[[Connection], Awaitable[list[asyncpg.Record]]],
    count: Count = repository.total,
) -> tuple[Page, Source]:
    """Answer from Redis; if it is unreachable, from PostgreSQL."""
    try:
        return await fast(board), "redis"
    except RedisError as exc:
        if rebuilding(exc):
            count = _reused(board, count)
        else:
            log.warning("board read from PostgreSQL: Redis unavailable (%s)", exc)
    return await from_postgres(pool, slow, count), "postgres"


async def from_postgres(
    pool: Pool,
    slow: Callable[[Connection], Awaitable[list[asyncpg.Record]]],
    count: Count = repository.total,
) -> Page:
    """Rows straight from the source of truth (same order and ranks as the board), with the player count."""
    async with pool.acquire() as conn:
        rows = await slow(conn)
        # Reads that rank every player anyway carry the count; a page (a few index rows) asks for it.
        total = int(rows[0]["total"]) if rows and rows[0].get("total") is not None else await count(conn)
    return _from_rows(rows, total)


def as_page(page: Page, at: datetime | None = None) -> BoardPage:
    """Render a page (read at `at`: now by default)."""
    # One validation of plain rows rather than one model per row: the same checks, in one call into pydantic-core.
    entries = [{"rank": e.rank, "user_id": e.user_id, "username": e.username, "score": e.score} for e in page.entries]
    return BoardPage.model_validate(
        {"entries": entries, "total_players": page.total, "generated_at": at or datetime.now(UTC)}
    )


def entry_of(page: Page, user_id: UUID) -> Entry:
    """A user's row on a page, or 404 when the page does not hold them."""
    entry = next((e for e in page.entries if e.user_id == user_id), None)
    if entry is None:
        raise NotFound("This user is not on the leaderboard.")
    return entry


def rank_of(page: Page, user_id: UUID) -> UserRank:
    """One user's standing from a page that contains them."""
    entry = entry_of(page, user_id)
    below = page.total - entry.rank
    percentile = round(100 * below / page.total, 2) if page.total else 0.0
    return UserRank(
        user_id=entry.user_id,
        username=entry.username,
        score=entry.score,
        rank=entry.rank,
        total_players=page.total,
        percentile=percentile,
    )


def member_of(row: asyncpg.Record) -> Member:
    """The board's view of a users row."""
    return Member(row["id"], row["username"], row["current_score"], row["reached"], row["is_active"])


async def sync_members(board: Board, pool: Pool, user_ids: list[UUID]) -> None:
    """After commit: make the board agree with PostgreSQL about these users (join, rename, leave, return)."""
    try:
        async with pool.acquire() as conn:
            rows = await repository.members(conn, user_ids)
        await board.sync([member_of(row) for row in rows])
    except (RedisError, OSError) as exc:
        log.error("board not updated for %d user(s) (%s); the reconciler will", len(user_ids), exc)


async def cached_score(redis: Pipelined, pool: Pool, user_id: UUID) -> tuple[int, Source]:
    """The seed's `user:{id}:score`, refilled from PostgreSQL on a miss."""
    try:
        cached = await redis.get(keys.score_cache(user_id))
        if cached is not None:
            return int(cached), "redis"
    except RedisError:
        cached = None
    async with pool.acquire() as conn:
        score = await repository.score_of(conn, user_id)
    if score is None:
        raise NotFound("No such user.")
    try:
        # NX: an award may have just written a newer value; never overwrite it with ours.
        await redis.set(keys.score_cache(user_id), score, ex=keys.SCORE_TTL_SECONDS, nx=True)
    except RedisError:
        log.warning("score cache not refilled: Redis unavailable")
    return score, "postgres"


async def cached_scores(redis: Pipelined, pool: Pool, user_ids: list[UUID]) -> dict[UUID, int]:
    """Scores of several users with one MGET; misses come from PostgreSQL in one query and are refilled."""
    scores: dict[UUID, int] = {}
    try:
        values = await redis.mget([keys.score_cache(u) for u in user_ids])
        scores = {u: int(v) for u, v in zip(user_ids, values, strict=True) if v is not None}
    except RedisError:
        values = []
    missing = [u for u in user_ids if u not in scores]
    if missing:
        async with pool.acquire() as conn:
            found = await repository.scores_of(conn, missing)
        scores.update(found)
        refills = (redis.set(keys.score_cache(u), s, ex=keys.SCORE_TTL_SECONDS, nx=True) for u, s in found.items())
        await asyncio.gather(*refills, return_exceptions=True)  # a refill that fails is only a later miss
    return scores
