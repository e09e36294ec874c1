"""The two Redis clients: pipelined (requests, the live subscription), redis-py (background and admin work)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from scoreboard.config import Settings
from scoreboard.kit.pipelined import CONNECT_TIMEOUT_SECONDS, REPLY_TIMEOUT_SECONDS, Pipelined


def create_redis(settings: Settings) -> Redis:
    """Create the redis-py client; it connects on first use."""
    assert settings.redis_url is not None
    # Blocking: under a burst, a caller waits briefly for a free connection instead of failing.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REPLY_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # owns the pool: aclose() closes its connections


def create_request_redis(settings: Settings) -> Pipelined:
    """Create the request path's client: one pipelined connection per process, opened on first use."""
    assert settings.redis_url is not None
    return Pipelined.from_url(settings.redis_url)
