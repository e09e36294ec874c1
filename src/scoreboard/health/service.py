"""Check PostgreSQL, Redis and the schema revision, each within a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from scoreboard.db import Pool
from scoreboard.health import repository
from scoreboard.kit.pipelined import Pipelined


async def _within(deadline: float, check: Awaitable[str]) -> str:
    try:
        return await asyncio.wait_for(check, deadline)
    except TimeoutError:
        return f"no answer within {deadline:g}s"
    except Exception as exc:  # the probe reports any failure as a reason, it never raises
        return f"{type(exc).__name__}: {exc}"[:300]


async def _postgres(pool: Pool, heads: tuple[str, ...]) -> str:
    async with pool.acquire() as conn:
        applied = await repository.applied_revisions(conn)
    if applied == heads:
        return "ok"
    have = ", ".join(applied) or "none"
    return f"migrations not at head (database at {have}; head is {', '.join(heads)})"


async def _redis(client: Pipelined) -> str:
    await client.ping()
    return "ok"


async def readiness(pool: Pool, client: Pipelined, heads: tuple[str, ...], deadline: float) -> dict[str, str]:
    """Return each dependency's state; every value is "ok" when the service is ready."""
    postgres, redis = await asyncio.gather(_within(deadline, _postgres(pool, heads)), _within(deadline, _redis(client)))
    return {"postgres": postgres, "redis": redis}
