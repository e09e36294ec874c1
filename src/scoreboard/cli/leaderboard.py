"""`scoreboard leaderboard`: rebuild Redis from PostgreSQL, find and repair drift."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

T = TypeVar("T")
app = typer.Typer(help="Rebuild and check the Redis leaderboard against PostgreSQL.", no_args_is_help=True)


def _with_stores(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `work(pool, redis)` against the configured (or embedded) PostgreSQL and Redis, then close both."""
    from scoreboard.db import create_pool
    from scoreboard.redis import create_redis

    async def main(settings: Settings) -> T:
        pool, redis = await create_pool(settings), create_redis(settings)
        try:
            return await work(pool, redis)
        finally:
            await redis.aclose()
            await pool.close()

    with servers(Settings()) as settings:
        return asyncio.run(main(settings))


@app.command()
def rebuild() -> None:
    """Rebuild the board from PostgreSQL into temporary keys and swap it in atomically."""
    from scoreboard.leaderboard import reconciler, repository

    async def work(pool: Any, redis: Any) -> int | None:
        async with pool.acquire() as conn:
            total = await repository.total(conn)
        with typer.progressbar(length=total, label="players") as bar:
            return await reconciler.rebuild(pool, redis, progress=bar.update)

    count = _with_stores(work)
    if count is None:
        typer.echo("another rebuild is running; nothing done", err=True)
        raise typer.Exit(1)
    typer.echo(f"rebuilt: {count} players")


@app.command()
def check(repair: Annotated[bool, typer.Option("--repair", help="Fix what differs")] = False) -> None:
    """Report players missing from, extra on, or different on the board; exit 1 on unrepaired drift."""
    from scoreboard.leaderboard import reconciler

    drift = _with_stores(lambda pool, redis: reconciler.check(pool, redis, repair=repair))
    found = (
        ("missing", drift.missing),
        ("extra", drift.extra),
        ("different", drift.different),
        ("caches", drift.caches),
    )
    for label, items in found:
        typer.echo(f"{label}: {len(items)}")
        for item in items[:20]:
            typer.echo(f"  {item}")
    if drift.found and not repair:
        raise typer.Exit(1)
    typer.echo("repaired" if drift.found else "no drift")
