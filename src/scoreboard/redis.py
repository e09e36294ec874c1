"""The shared Redis client and its `RedisClient` dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from redis.asyncio import BlockingConnectionPool, Redis
from starlette.requests import HTTPConnection

from scoreboard.config import Settings
from scoreboard.kit.pipelined import CONNECT_TIMEOUT_SECONDS, REPLY_TIMEOUT_SECONDS, Pipelined


def create_redis(settings: Settings) -> Redis:
    """Create the client; it connects on first use."""
    assert settings.redis_url is not None
    # Blocking: under a burst, a request waits briefly for a free connection instead of failing.
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


def create_script_host(settings: Settings) -> Pipelined | None:
    """A pipelined connection for the request path's scripts; None (use the shared client) for TLS URLs."""
    assert settings.redis_url is not None
    return Pipelined.from_url(settings.redis_url)


def get_redis(request: HTTPConnection) -> Redis:
    """Return the app's Redis client."""
    client: Redis = request.app.state.redis
    return client


RedisClient = Annotated[Redis, Depends(get_redis)]
