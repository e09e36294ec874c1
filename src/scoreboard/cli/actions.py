"""`scoreboard actions`: the action catalog from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

app = typer.Typer(help="List and change the action catalog.", no_args_is_help=True)
T = TypeVar("T")

Points = Annotated[int | None, typer.Option(help="Points per award")]
Cooldown = Annotated[int | None, typer.Option("--cooldown", help="Seconds between two awards to one user")]
PerDay = Annotated[int | None, typer.Option("--max-per-day", help="Awards per user per UTC day")]


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(conn)` in one transaction on the configured (or embedded) database."""
    from scoreboard.kit.problems import ProblemError  # the web stack loads only when a command runs

    async def main(url: str) -> T:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                return await work(conn)
        finally:
            await conn.close()

    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        try:
            return asyncio.run(main(settings.database_url))
        except ProblemError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from exc


def _print(actions: list[Any]) -> None:
    typer.echo(f"{'id':<24} {'points':>7} {'active':<6} {'cooldown':>8} {'per day':>7} {'client':<6} name")
    for a in actions:
        typer.echo(
            f"{a.id:<24} {a.points:>7} {'yes' if a.is_active else 'no':<6} {a.cooldown_seconds or '-':>8} "
            f"{a.max_per_day or '-':>7} {'yes' if a.client_reportable else 'no':<6} {a.name}"
        )


@app.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="Include inactive actions")] = False) -> None:
    """Print the catalog."""
    from scoreboard.actions import service

    _print(_run(lambda conn: service.list_actions(conn, include_inactive=all_)))


@app.command()
def add(
    action_id: Annotated[str, typer.Argument(help="Identifier, e.g. boss-defeated")],
    name: Annotated[str, typer.Option(help="Display name")],
    points: Annotated[int, typer.Option(help="Points per award")],
    description: Annotated[str | None, typer.Option(help="Description")] = None,
    cooldown: Cooldown = None,
    max_per_day: PerDay = None,
    server_only: Annotated[bool, typer.Option("--server-only", help="Only trusted servers may award it")] = False,
) -> None:
    """Add an action."""
    from scoreboard.actions import service
    from scoreboard.actions.schemas import ActionCreate

    try:
        body = ActionCreate(
            id=action_id,
            name=name,
            description=description,
            points=points,
            cooldown_seconds=cooldown,
            max_per_day=max_per_day,
            client_reportable=not server_only,
        )
    except ValidationError as exc:
        raise typer.BadParameter(_first_error(exc)) from exc
    _print([_run(lambda conn: service.create_action(conn, body))])


@app.command("set")
def set_(
    action_id: Annotated[str, typer.Argument(help="The action to change")],
    points: Points = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    description: Annotated[str | None, typer.Option(help="Description")] = None,
    cooldown: Cooldown = None,
    max_per_day: PerDay = None,
    client_reportable: Annotated[
        bool | None, typer.Option("--client-reportable/--server-only", help="Who may report it")
    ] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Enable or disable")] = None,
    clear_cooldown: Annotated[bool, typer.Option("--no-cooldown", help="Remove the cooldown")] = False,
    clear_max_per_day: Annotated[bool, typer.Option("--no-max-per-day", help="Remove the daily cap")] = False,
) -> None:
    """Change an action; past awards keep their points."""
    from scoreboard.actions import service
    from scoreboard.actions.schemas import ActionPatch

    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "points": points,
            "name": name,
            "description": description,
            "cooldown_seconds": cooldown,
            "max_per_day": max_per_day,
            "client_reportable": client_reportable,
            "is_active": active,
        }.items()
        if v is not None
    }
    if clear_cooldown:
        changes["cooldown_seconds"] = None
    if clear_max_per_day:
        changes["max_per_day"] = None
    try:
        patch = ActionPatch(**changes)
    except ValidationError as exc:
        raise typer.BadParameter(_first_error(exc)) from exc
    _print([_run(lambda conn: service.update_action(conn, action_id, patch))])


@app.command()
def disable(action_id: Annotated[str, typer.Argument(help="The action to disable")]) -> None:
    """Stop awarding an action (its history stays)."""
    from scoreboard.actions import service
    from scoreboard.actions.schemas import ActionPatch

    _print([_run(lambda conn: service.update_action(conn, action_id, ActionPatch(is_active=False)))])


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
