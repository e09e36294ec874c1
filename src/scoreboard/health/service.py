"""Check PostgreSQL, Redis and the schema revision, each within a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from redis.asyncio import Redis

from scoreboard.db import Pool
from scoreboard.health import repository
from scoreboard.kit.pipelined import Pipelined
from scoreboard.leaderboard import mirror


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


REBUILDING = "rebuilding"


async def _board(pool: Pool, redis: Redis) -> str:
    async with pool.acquire() as conn:
        seen, why = await mirror.compare(conn, redis)
    if why is None:
        return "ok"
    # Without BUILT, reads come from PostgreSQL until the rebuild swaps a new board in: correct, so still ready.
    # With it, the board is served while it mirrors something else: not ready until the reconciler acts.
    if not seen.built:
        return f"{REBUILDING} from PostgreSQL (reads are served from PostgreSQL meanwhile): {why}"
    return f"out of date, a rebuild is due: {why}"


async def readiness(
    pool: Pool, client: Pipelined, background: Redis, heads: tuple[str, ...], deadline: float
) -> tuple[bool, dict[str, str]]:
    """Each dependency's state, and whether the service is ready (every check "ok", or the board rebuilding)."""
    postgres, redis, board = await asyncio.gather(
        _within(deadline, _postgres(pool, heads)),
        _within(deadline, _redis(client)),
        _within(deadline, _board(pool, background)),
    )
    checks = {"postgres": postgres, "redis": redis, "board": board}
    ready = postgres == "ok" and redis == "ok" and (board == "ok" or board.startswith(REBUILDING))
    return ready, checks
