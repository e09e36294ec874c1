"""`scoreboard leaderboard`: rebuild Redis from PostgreSQL, find and repair drift."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

app = typer.Typer(help="Rebuild and check the Redis leaderboard against PostgreSQL.", no_args_is_help=True)


@app.command()
def rebuild() -> None:
    """Rebuild the board from PostgreSQL into temporary keys and swap it in atomically."""
    from scoreboard.db import create_pool
    from scoreboard.leaderboard import healing
    from scoreboard.redis import create_redis

    async def main(settings: Settings) -> int | None:
        pool, redis = await create_pool(settings), create_redis(settings)
        try:
            async with pool.acquire() as conn:
                total: int = await conn.fetchval("SELECT count(*) FROM users WHERE is_active")
            with typer.progressbar(length=total, label="players") as bar:
                return await healing.rebuild(pool, redis, progress=bar.update)
        finally:
            await redis.aclose()
            await pool.close()

    with servers(Settings()) as settings:
        count = asyncio.run(main(settings))
    if count is None:
        typer.echo("another rebuild is running; nothing done", err=True)
        raise typer.Exit(1)
    typer.echo(f"rebuilt: {count} players")


@app.command()
def check(repair: Annotated[bool, typer.Option("--repair", help="Fix what differs")] = False) -> None:
    """Report players missing from, extra on, or different on the board; exit 1 on unrepaired drift."""
    from scoreboard.db import create_pool
    from scoreboard.leaderboard import healing
    from scoreboard.redis import create_redis

    async def main(settings: Settings) -> healing.Drift:
        pool, redis = await create_pool(settings), create_redis(settings)
        try:
            return await healing.check(pool, redis, repair=repair)
        finally:
            await redis.aclose()
            await pool.close()

    with servers(Settings()) as settings:
        drift = asyncio.run(main(settings))
    for label, items in (("missing", drift.missing), ("extra", drift.extra), ("different", drift.different)):
        typer.echo(f"{label}: {len(items)}")
        for item in items[:20]:
            typer.echo(f"  {item}")
    if drift.found and not repair:
        raise typer.Exit(1)
    typer.echo("repaired" if drift.found else "no drift")
