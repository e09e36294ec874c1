"""`scoreboard`: serve the API and operate it."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from scoreboard import __version__
from scoreboard.cli import actions, analytics, backup, boards, check, config, db, demo, leaderboard, restore, users
from scoreboard.cli.runtime import servers
from scoreboard.config import Settings
from scoreboard.kit.logging import configure_logging

# After live streams were told to reconnect, requests still running get this long before they are cancelled.
GRACE_SECONDS = 5.0
# prometheus-client's multi-process folder; named here because importing the library reads it (scoreboard.kit.metrics).
METRICS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
app = typer.Typer(
    help="Scoreboard: a secure, live, auditable real-time leaderboard API.",
    no_args_is_help=True,
    # Locals in a traceback can hold URLs with passwords and secrets.
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(actions.app, name="actions")
app.add_typer(boards.app, name="boards")
app.add_typer(leaderboard.app, name="leaderboard")
app.add_typer(analytics.app, name="analytics")
app.add_typer(config.app, name="config")
app.command("check")(check.run)
app.command("demo")(demo.demo)
app.command("backup")(backup.backup)
app.command("restore")(restore.restore)


@app.callback()
def main() -> None:
    """Configure logging before any command runs."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)


@app.command()
def version() -> None:
    """Print the version, the schema head and, when reachable, the database's revision."""
    from scoreboard import migrate

    typer.echo(__version__)
    typer.echo(f"schema head: {', '.join(migrate.head_revisions())}")
    typer.echo(f"database: {db.database_summary(Settings())}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [default: SCOREBOARD_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: SCOREBOARD_PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default: SCOREBOARD_WORKERS]")] = None,
) -> None:
    """Run the API; with no URLs configured, on embedded PostgreSQL and Valkey."""
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    import uvicorn  # imported here so `scoreboard --help` and other commands start fast

    from scoreboard import migrate

    base = Settings(**overrides)  # type: ignore[arg-type]
    with servers(base) as settings, _metrics_folder(settings):
        assert settings.database_url is not None
        migrate.upgrade_in_child(settings.database_url, settings.log_level, settings.log_format)
        if settings.workers == 1:
            from scoreboard.app import create_server_app

            uvicorn.run(
                create_server_app(settings),
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=_access_log(settings),
                timeout_graceful_shutdown=math.ceil(settings.stream_drain_seconds + GRACE_SECONDS),
            )
            return
        # Worker processes build their own app from the environment, so hand them what we resolved.
        os.environ.update(
            SCOREBOARD_DATABASE_URL=settings.database_url,
            SCOREBOARD_REDIS_URL=str(settings.redis_url),
            SCOREBOARD_JWT_SECRET=settings.signing_secret,
        )
        uvicorn.run(
            "scoreboard.app:create_server_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=_access_log(settings),
            timeout_graceful_shutdown=math.ceil(settings.stream_drain_seconds + GRACE_SECONDS),
        )


def _access_log(settings: Settings) -> bool:
    """Whether uvicorn should make access lines: asked for, and at a level that prints them (they are INFO)."""
    # uvicorn formats each line's arguments before the logger's level drops it: skip the work nobody reads.
    return settings.access_log and settings.log_level in ("DEBUG", "INFO")


@contextlib.contextmanager
def _metrics_folder(settings: Settings) -> Iterator[None]:
    """Give the workers one folder for their metrics, so a scrape served by any of them reports all of them."""
    given = os.environ.get(METRICS_FOLDER)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):  # a previous run's values: its counters would add to ours
            stale.unlink()
        yield
        return
    if settings.workers == 1 or settings.metrics_token is None:
        yield  # one process keeps its metrics in memory, and unserved metrics need no files
        return
    with tempfile.TemporaryDirectory(prefix="scoreboard-metrics-") as made:
        os.environ[METRICS_FOLDER] = made  # before any worker imports prometheus-client
        try:
            yield
        finally:
            del os.environ[METRICS_FOLDER]
