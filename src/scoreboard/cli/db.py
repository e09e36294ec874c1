"""`scoreboard db`: schema migrations."""

from __future__ import annotations

import asyncio

import typer

from scoreboard import migrate
from scoreboard.cli.owner import other_owner
from scoreboard.cli.runtime import servers
from scoreboard.config import Settings

app = typer.Typer(help="Apply, revert and inspect schema migrations.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        migrate.upgrade(settings.database_url, revision)


@app.command()
def downgrade(revision: str = typer.Argument("-1", help="Target revision, e.g. -1 or base")) -> None:
    """Revert migrations down to REVISION (default: one step)."""
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        migrate.downgrade(settings.database_url, revision)


@app.command()
def current() -> None:
    """Print the revision the database is at."""
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        migrate.current(settings.database_url)


@app.command()
def history(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each revision's full description"),
) -> None:
    """List the migrations, newest first, marking head and the database's current revision."""
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        migrate.history(settings.database_url, verbose=verbose)


def _unreachable() -> tuple[type[Exception], ...]:
    import asyncpg

    from scoreboard.kit.problems import STORE_ERRORS

    return (*STORE_ERRORS, OSError, asyncpg.PostgresError)


def read_revision(database_url: str, timeout: float = 10) -> tuple[str, ...]:
    """Return the revision(s) the database records (empty if never migrated)."""
    import asyncpg

    from scoreboard.health.repository import applied_revisions

    async def read() -> tuple[str, ...]:
        conn = await asyncpg.connect(database_url, timeout=timeout)
        try:
            return await applied_revisions(conn)
        finally:
            await conn.close()

    return asyncio.run(read())


def standing(current: tuple[str, ...]) -> tuple[bool, str]:
    """Say where a database at `current` stands against this release's head; True when at head."""
    heads = ", ".join(migrate.head_revisions())
    at = ", ".join(current) or "no revision (never migrated)"
    pending = migrate.pending_revisions(current)
    if pending is None:
        return False, f"the database is at {at}, which this release does not know (head: {heads}); a newer release?"
    if pending:
        return False, (
            f"the database is at {at}; {len(pending)} migration(s) pending: {', '.join(pending)}. "
            "Run `scoreboard db upgrade`."
        )
    return True, f"the database is at head ({heads})"


@app.command()
def check() -> None:
    """Exit 0 when the database is at this release's head, 1 with what is pending otherwise, 2 if unreachable."""
    with servers(Settings(), redis=False) as settings:
        assert settings.database_url is not None
        try:
            current = read_revision(settings.database_url)
        except _unreachable() as exc:
            # Exit 2, not 1: a deploy script must tell "migrations pending" from "could not look".
            typer.echo(f"error: cannot read the database's revision: {exc}", err=True)
            raise typer.Exit(2) from exc
    ok, message = standing(current)
    typer.echo(message)
    if not ok:
        raise typer.Exit(1)


def database_summary(settings: Settings) -> str:
    """Say which revision the configured database (or a running embedded one) is at, without starting servers."""
    url = settings.database_url
    if url is None:
        owner = other_owner(settings.data_dir)
        url = owner.database_url if owner else None
    if url is None:
        return "embedded, not running (not checked)"
    try:
        current = read_revision(url, timeout=3)
    except _unreachable() as exc:
        return f"unreachable ({exc})"
    at_head, _ = standing(current)
    state = "at head" if at_head else "not at head: see `scoreboard db check`"
    return f"{', '.join(current) or 'never migrated'} ({state})"
