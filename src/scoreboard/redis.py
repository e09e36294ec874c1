"""The shared Redis client and its `RedisClient` dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from scoreboard.config import Settings


def create_redis(settings: Settings) -> Redis:
    """Create the client; it connects on first use."""
    assert settings.redis_url is not None
    return Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )


def get_redis(request: Request) -> Redis:
    """Return the app's Redis client."""
    client: Redis = request.app.state.redis
    return client


RedisClient = Annotated[Redis, Depends(get_redis)]
