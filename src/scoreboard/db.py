"""The asyncpg pool and the `Db` dependency: one connection and one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import asyncpg
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

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
    # behind (the edge always ends its transaction), so skipping it is safe and measurably faster.
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
        server_settings={"application_name": "scoreboard"},
    )
    return await pool


def get_pool(request: HTTPConnection) -> Pool:
    """Return the app's pool."""
    pool: Pool = request.app.state.pool
    return pool


def after_commit(request: Request, hook: AfterCommitHook) -> None:
    """Run `hook` once this request's transaction has committed (never if it rolls back)."""
    request.state.after_commit.append(hook)


async def transaction(request: Request) -> AsyncIterator[Connection]:
    """Give the endpoint a connection inside a transaction the HTTP edge commits or rolls back."""
    hooks: list[AfterCommitHook] = []
    request.state.after_commit = hooks
    async with get_pool(request).acquire() as conn, conn.transaction():
        yield conn
    # Side effects others can see (cache writes, publishes) only after the data they describe is durable.
    for hook in hooks:
        await hook()


# scope="function": commit before the response is sent, so a failed commit is the client's error response.
Db = Annotated[Connection, Depends(transaction, scope="function")]
