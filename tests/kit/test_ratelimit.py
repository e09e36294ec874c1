"""The sliding window admits exactly the limit in any window, keeps the seed's key readable, and recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.ratelimit import SlidingWindow
from scoreboard.redis import create_request_redis

KEY = "rate_limit:user-123:/api/scores"


@pytest.fixture
async def pipelined(redis_url: str) -> AsyncIterator[Pipelined]:
    """The request path's client on the test's Redis database."""
    client = Pipelined.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_admits_exactly_the_limit_under_concurrency(settings: Settings) -> None:
    """500 simultaneous hits on one key through the app's client: exactly `limit` are allowed."""
    client = create_request_redis(settings)
    limiter = SlidingWindow(client)
    try:
        verdicts = await asyncio.gather(*(limiter.check(KEY, limit=10, window_seconds=60) for _ in range(500)))
    finally:
        await client.aclose()
    assert sum(v.allowed for v in verdicts) == 10
    refused = [v for v in verdicts if not v.allowed]
    assert all(v.remaining == 0 and 1 <= v.retry_after <= 60 for v in refused)


async def test_seed_counter_key_answers_get_and_ttl(redis: Redis, pipelined: Pipelined) -> None:
    """Operators' `GET` / `TTL rate_limit:{user}:{endpoint}` show the count in the window and time to reset."""
    limiter = SlidingWindow(pipelined)
    for _ in range(3):
        await limiter.check(KEY, limit=10, window_seconds=60)
    assert await redis.get(KEY) == "3"
    assert 55 <= await redis.ttl(KEY) <= 60
    assert await redis.type(KEY) == "string"


async def test_window_edge_burst_is_refused(redis: Redis, pipelined: Pipelined) -> None:
    """Limit at the end of one window, limit at the start of the next: never more than the limit in any span."""
    limiter = SlidingWindow(pipelined)
    window = 2.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = [await limiter.check(KEY, limit=5, window_seconds=window) for _ in range(5)]
    filled = loop.time()
    assert all(v.allowed for v in first)
    # A fixed window would reset around here and admit 5 more; the sliding window admits none until the oldest leaves.
    await asyncio.sleep(max(0.0, started + window * 0.6 - loop.time()))
    assert not any([(await limiter.check(KEY, limit=5, window_seconds=window)).allowed for _ in range(5)])
    assert loop.time() < started + window
    await asyncio.sleep(filled + window + 0.2 - loop.time())
    again = [await limiter.check(KEY, limit=5, window_seconds=window) for _ in range(6)]
    assert [v.allowed for v in again] == [True] * 5 + [False]


async def test_peek_counts_nothing_and_record_counts_regardless(redis: Redis, pipelined: Pipelined) -> None:
    """`peek` only looks; `record` counts even past the limit (failed logins keep counting)."""
    limiter = SlidingWindow(pipelined)
    for _ in range(3):
        assert (await limiter.check(KEY, limit=2, window_seconds=60, mode="peek")).allowed
    for _ in range(4):
        await limiter.check(KEY, limit=2, window_seconds=60, mode="record")
    verdict = await limiter.check(KEY, limit=2, window_seconds=60, mode="peek")
    assert (verdict.allowed, verdict.count) == (False, 4)
    await limiter.clear(KEY)
    assert (await limiter.check(KEY, limit=2, window_seconds=60, mode="peek")).count == 0
    assert await redis.exists(KEY) == 0


async def test_survives_script_cache_flush(redis: Redis, pipelined: Pipelined) -> None:
    """After SCRIPT FLUSH (e.g. a Redis restart) the script is loaded again transparently."""
    limiter = SlidingWindow(pipelined)
    await limiter.check(KEY, limit=10, window_seconds=60)
    await redis.script_flush()
    assert (await limiter.check(KEY, limit=10, window_seconds=60)).count == 2
