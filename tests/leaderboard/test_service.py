"""Board reads fall back to PostgreSQL: exact counts when Redis is away, a reused count while a rebuild runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import pytest

from scoreboard.config import Settings
from scoreboard.db import Pool, create_pool
from scoreboard.kit.pipelined import Pipelined
from scoreboard.leaderboard import repository, service
from scoreboard.leaderboard.board import Board


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[Pool]:
    created = await create_pool(settings)
    try:
        yield created
    finally:
        await created.close()


async def _join(db: asyncpg.Connection, score: int) -> None:
    name = f"p{uuid4().hex[:12]}"
    await db.execute(
        "INSERT INTO users (username, email, password_hash, current_score) VALUES ($1, $2, 'x', $3)",
        name,
        f"{name}@example.com",
        score,
    )


async def _top(board: Board, pool: Pool) -> tuple[int, str, list[int]]:
    page, source = await service.read(board, pool, lambda b: b.page(0, 10), lambda c: repository.page(c, 0, 10))
    return page.total, source, [e.score for e in page.entries]


async def test_while_the_board_is_rebuilt_reads_reuse_the_player_count_for_a_second(
    pool: Pool, db: asyncpg.Connection, redis_url: str
) -> None:
    for score in (30, 20, 10):
        await _join(db, score)
    client = Pipelined.from_url(redis_url)  # the board was never built: Lua answers NOTBUILT
    try:
        board = Board(client)
        assert await _top(board, pool) == (3, "postgres", [30, 20, 10])
        await _join(db, 40)
        counted_at = time.monotonic()
        # The page is read afresh; its count is the one taken a moment ago.
        assert await _top(board, pool) == (3, "postgres", [40, 30, 20, 10])
        await asyncio.sleep(max(0.0, service.REUSE_COUNT_SECONDS - (time.monotonic() - counted_at)) + 0.05)
        assert await _top(board, pool) == (4, "postgres", [40, 30, 20, 10])
    finally:
        await client.aclose()


async def test_with_redis_unreachable_every_read_counts_the_players(pool: Pool, db: asyncpg.Connection) -> None:
    for score in (30, 20):
        await _join(db, score)
    client = Pipelined.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        board = Board(client)
        assert await _top(board, pool) == (2, "postgres", [30, 20])
        await _join(db, 40)
        assert await _top(board, pool) == (3, "postgres", [40, 30, 20])
    finally:
        await client.aclose()
