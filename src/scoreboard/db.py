"""The asyncpg pool, and the transaction a request runs in with what happens after it commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import asyncpg

from scoreboard.config import Settings

if TYPE_CHECKING:
    Pool = asyncpg.Pool[asyncpg.Record]
    # What a query function receives: a plain connection or one borrowed from the pool.
    Connection = asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]
else:  # asyncpg's classes are generic only in its stubs
    Pool = asyncpg.Pool
    Connection = asyncpg.Connection

AfterCommitHook = Callable[[], Awaitable[None]]


async def _no_reset(conn: Connection) -> None:
    # The default reset runs several statements per release; our requests leave no session state
    # behind (the edge always ends its transaction), so skipping it is safe and saves those round trips.
    return None


async def create_pool(settings: Settings) -> Pool:
    """Create the pool; connections open lazily so the app starts even while PostgreSQL is down."""
    assert settings.database_url is not None
    pool = asyncpg.create_pool(
        settings.database_url,
        min_size=0,
        max_size=settings.db_pool_max_size,
        reset=_no_reset,
        command_timeout=30,
        # No JIT: our queries are short, and a rank counted per row makes a fallback read's estimated cost look
        # large enough to compile, which then takes longer than the read itself.
        server_settings={"application_name": "scoreboard", "jit": "off"},
    )
    return await pool


class AfterCommit:
    """Side effects others can see (cache writes, publishes), run once the request's transaction has committed."""

    __slots__ = ("_hooks",)

    def __init__(self) -> None:
        self._hooks: list[AfterCommitHook] = []

    def add(self, hook: AfterCommitHook) -> None:
        """Run `hook` after the commit (never if the transaction rolls back)."""
        self._hooks.append(hook)

    async def run(self) -> None:
        """Run the hooks in the order they were added."""
        for hook in self._hooks:
            await hook()


@asynccontextmanager
async def transaction(pool: Pool, after_commit: AfterCommit) -> AsyncIterator[Connection]:
    """A connection inside a transaction; `after_commit`'s hooks run once it committed."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn
    await after_commit.run()
