"""The one-Redis-call baseline for the read bench: a FastAPI app whose only route makes one `GET`.

Served by `uvicorn benchkit.bare_app:app --app-dir bench --workers 2` on the service's own Redis (the URL comes
in `BENCH_REDIS_URL`). The Redis client is configured as `scoreboard.redis.create_redis` configures the service's,
and `/bare` answers a small Pydantic model as `/healthz` does, so the difference from `/healthz` is one redis-py
round trip, and the difference to the board reads is the Lua script, parsing and rendering the page.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from pydantic import BaseModel
from redis.asyncio import BlockingConnectionPool, Redis

KEY = "leaderboard:built"  # the service's keys.BUILT: a short string that exists once the board is built


class Bare(BaseModel):
    built: str | None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    pool = BlockingConnectionPool.from_url(
        os.environ["BENCH_REDIS_URL"],
        max_connections=64,
        timeout=5,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )
    app.state.redis = Redis.from_pool(pool)
    try:
        yield
    finally:
        await app.state.redis.aclose()


app = FastAPI(lifespan=lifespan, openapi_url=None)


@app.get("/bare")
async def bare(request: Request) -> Bare:
    """One Redis round trip, nothing else."""
    return Bare(built=await request.app.state.redis.get(KEY))
