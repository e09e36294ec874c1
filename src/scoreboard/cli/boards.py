"""`scoreboard boards`: the board catalog from the command line, and backfills from score_history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

app = typer.Typer(help="List, add and change boards; backfill one from past awards.", no_args_is_help=True)
T = TypeVar("T")

Actions = Annotated[
    list[str] | None, typer.Option("--action", help="An action that counts (repeat; none: every action)")
]
Zone = Annotated[str | None, typer.Option("--time-zone", help="IANA zone of the period boundaries")]


def _run(work: Callable[[Any, Any], Awaitable[T]], *, redis: bool = False) -> T:
    """Run `work(pool, redis)` on the configured (or embedded) stores; a domain error is one line and exit 1."""
    from scoreboard.db import create_pool
    from scoreboard.kit.problems import ProblemError
    from scoreboard.redis import create_redis

    async def main(settings: Settings) -> T:
        pool = await create_pool(settings)
        client = create_redis(settings) if redis else None
        try:
            return await work(pool, client)
        finally:
            if client is not None:
                await client.aclose()
            await pool.close()

    with servers(Settings(), redis=redis) as settings:
        try:
            return asyncio.run(main(settings))
        except ProblemError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from exc


def _in_transaction(work: Callable[[Any], Awaitable[T]]) -> Callable[[Any, Any], Awaitable[T]]:
    async def run(pool: Any, _: Any) -> T:
        async with pool.acquire() as conn, conn.transaction():
            return await work(conn)

    return run


def _print(specs: list[Any]) -> None:
    from scoreboard.boards import service

    typer.echo(f"{'id':<20} {'period':<9} {'zone':<18} {'now':<11} {'active':<6} {'counts':<24} name")
    for spec in specs:
        view = service.view(spec)
        actions = ",".join(view.actions) if view.actions else "all"
        if view.kind == "result":
            actions = f"results ({view.keep}, {'lowest' if view.sort == 'asc' else 'highest'} first)"
        typer.echo(
            f"{view.id:<20} {view.period:<9} {view.time_zone:<18} {view.current_period:<11} "
            f"{'yes' if view.is_active else 'no':<6} {actions:<24} {view.name}"
        )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where + ': ' if where else ''}{error['msg']}"


@app.command("list")
def list_() -> None:
    """Print every board, inactive ones included."""
    from scoreboard.boards import families, repository

    async def work(conn: Any) -> list[Any]:
        return [families.spec_of(row) for row in await repository.boards(conn)]

    _print(_run(_in_transaction(work)))


@app.command()
def add(
    board_id: Annotated[str, typer.Argument(help="Identifier, e.g. daily or season-1")],
    name: Annotated[str, typer.Option(help="Display name")],
    period: Annotated[str, typer.Option(help="all_time, daily, weekly, monthly or season")],
    time_zone: Zone = None,
    starts_at: Annotated[datetime | None, typer.Option(help="A season's start (with its UTC offset)")] = None,
    ends_at: Annotated[datetime | None, typer.Option(help="A season's end (with its UTC offset)")] = None,
    action: Actions = None,
    description: Annotated[str | None, typer.Option(help="Description")] = None,
    kind: Annotated[str, typer.Option(help="points (awards add up) or result (a trusted server's results)")] = "points",
    sort: Annotated[str, typer.Option(help="Result boards: desc (highest first) or asc (lowest first)")] = "desc",
    keep: Annotated[str, typer.Option(help="Result boards: best or latest result per player and period")] = "best",
    min_value: Annotated[int | None, typer.Option(help="Result boards: the lowest value accepted")] = None,
    max_value: Annotated[int | None, typer.Option(help="Result boards: the highest value accepted")] = None,
) -> None:
    """Add a board; a points board counts awards from now on (`backfill` counts the past)."""
    from scoreboard.boards import service
    from scoreboard.boards.schemas import BoardCreate

    fields: dict[str, Any] = {"id": board_id, "name": name, "period": period, "description": description}
    if time_zone is not None:
        fields["time_zone"] = time_zone
    fields |= {"starts_at": starts_at, "ends_at": ends_at, "actions": action or None, "kind": kind}
    if kind == "result":
        fields |= {"sort": sort, "keep": keep, "min_value": min_value, "max_value": max_value}
    try:
        body = BoardCreate.model_validate(fields, strict=False)
    except ValidationError as exc:
        raise typer.BadParameter(_first_error(exc)) from exc
    _print([_run(_in_transaction(lambda conn: service.create(conn, body)))])


@app.command("set")
def set_(
    board_id: Annotated[str, typer.Argument(help="The board to change")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    description: Annotated[str | None, typer.Option(help="Description")] = None,
    time_zone: Zone = None,
    ends_at: Annotated[datetime | None, typer.Option(help="A season's new end")] = None,
    action: Actions = None,
    all_actions: Annotated[bool, typer.Option("--all-actions", help="Count every action")] = False,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Enable or disable")] = None,
    min_value: Annotated[int | None, typer.Option(help="Result boards: the lowest value accepted")] = None,
    max_value: Annotated[int | None, typer.Option(help="Result boards: the highest value accepted")] = None,
) -> None:
    """Change a board; which actions count, the zone and value bounds apply to what comes next only."""
    from scoreboard.boards import service
    from scoreboard.boards.schemas import BoardPatch

    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "name": name,
            "description": description,
            "time_zone": time_zone,
            "ends_at": ends_at,
            "actions": action or None,
            "is_active": active,
            "min_value": min_value,
            "max_value": max_value,
        }.items()
        if v is not None
    }
    if all_actions:
        changes["actions"] = None
    try:
        patch = BoardPatch.model_validate(changes, strict=False)
    except ValidationError as exc:
        raise typer.BadParameter(_first_error(exc)) from exc
    _print([_run(_in_transaction(lambda conn: service.change(conn, board_id, patch)))])


@app.command()
def disable(board_id: Annotated[str, typer.Argument(help="The board to disable")]) -> None:
    """Stop counting awards on a board (its standings stay readable)."""
    from scoreboard.boards import service
    from scoreboard.boards.schemas import BoardPatch

    _print([_run(_in_transaction(lambda conn: service.change(conn, board_id, BoardPatch(is_active=False))))])


@app.command()
def backfill(board_id: Annotated[str, typer.Argument(help="The board to recount")]) -> None:
    """Recount every period of a board (from score_history, or its submissions) and reload it in Redis."""
    from scoreboard.boards import service

    grace = Settings().board_period_grace_seconds
    count = _run(lambda pool, redis: service.backfill(pool, redis, board_id, grace), redis=True)
    typer.echo(f"board {board_id}: {count} standings recounted")
