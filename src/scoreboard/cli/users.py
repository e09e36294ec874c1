"""`scoreboard users`: operator tasks on accounts."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from scoreboard.auth.schemas import Email, Password, Username
from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


def _valid(kind: Any, value: str, what: str) -> str:
    try:
        result: str = TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint=what) from exc
    return result


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(prompt=True, help="3-32 of A-Z a-z 0-9 _ . -")],
    email: Annotated[str, typer.Option(prompt=True, help="E-mail address")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Create an admin account (the password is prompted for, or read from stdin)."""
    username = _valid(Username, username, "--username")
    email = _valid(Email, email, "--email")
    if password_stdin:
        raw = sys.stdin.readline().rstrip("\n")
    else:
        raw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    password = _valid(Password, raw, "password")
    from scoreboard.kit.problems import Conflict  # the web stack loads only for commands that need it

    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        try:
            user_id = asyncio.run(_create(settings, username, email, password))
        except Conflict as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"created admin {username} ({user_id})")


async def _create(settings: Settings, username: str, email: str, password: str) -> str:
    import asyncpg

    from scoreboard.auth import service

    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            row = await service.create_user(
                conn, settings, username=username, email=email, password=password, role="admin"
            )
        return str(row["id"])
    finally:
        await conn.close()
