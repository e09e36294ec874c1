"""`scoreboard db`: schema migrations."""

from __future__ import annotations

import typer

from scoreboard import migrate
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
