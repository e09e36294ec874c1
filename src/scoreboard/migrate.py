"""Run Alembic programmatically: the migrations ship inside the package."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic and SQLAlchemy cost a serving process memory and start-up time, for code it never runs after the schema is
# up to date: they are imported only by the functions that migrate.
VERSIONS = Path(__file__).parent / "migrations" / "versions"
URL_VARIABLE = "SCOREBOARD_MIGRATE_DATABASE_URL"
LOGGING_VARIABLE = "SCOREBOARD_MIGRATE_LOGGING"  # "LEVEL:format", as the parent logs
# PostgreSQL aborted the revision's transaction to break a deadlock with live traffic (a revision that locks a table
# an award holds while the award waits for one the revision holds): nothing of that revision was applied.
DEADLOCK = "40P01"
ATTEMPTS = 5
log = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for `database_url` using the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "scoreboard:migrations")
    # SQLAlchemy (only for Alembic) talks to PostgreSQL through asyncpg, our one driver.
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
        "postgres://", "postgresql+asyncpg://", 1
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _revision_ids(value: object) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)  # type: ignore[call-overload]


def head_revisions() -> tuple[str, ...]:
    """Return the head revision id(s) of the packaged migrations, read from their files (no Alembic import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        for node in ast.parse(script.read_bytes()).body:
            # `revision = "..."`, or annotated as Alembic's stock template writes it (`revision: str = "..."`).
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                ids = _revision_ids(ast.literal_eval(value))
                (revisions if target.id == "revision" else parents).update(ids)
    return tuple(sorted(revisions - parents))


def pending_revisions(current: tuple[str, ...]) -> list[str] | None:
    """Return the revisions an upgrade from `current` to head applies, oldest first; None for an unknown revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "scoreboard:migrations")
    script = ScriptDirectory.from_config(config)
    # Exact ids only: Alembic would also accept a prefix of one.
    if not set(current) <= {rev.revision for rev in script.walk_revisions()}:
        return None
    newest_first = [rev.revision for rev in script.iterate_revisions("heads", current or "base")]
    return newest_first[::-1]


def history(database_url: str, *, verbose: bool = False) -> None:
    """Print every revision, newest first, marking head and the database's current revision."""
    from alembic import command

    command.history(alembic_config(database_url), verbose=verbose, indicate_current=True)


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    from alembic import command

    _retrying_deadlocks(lambda: command.upgrade(alembic_config(database_url), revision))


def upgrade_in_child(database_url: str, log_level: str, log_format: str) -> None:
    """Apply every migration from a child process, so the caller (a server) never imports Alembic."""
    # The URL travels in the environment, not argv: `ps` shows arguments to every user.
    env = {**os.environ, URL_VARIABLE: database_url, LOGGING_VARIABLE: f"{log_level}:{log_format}"}
    # -P: the working directory stays off sys.path (a stray alembic.py there must not replace the real one).
    subprocess.run([sys.executable, "-P", "-m", "scoreboard.migrate"], env=env, check=True)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    from alembic import command

    _retrying_deadlocks(lambda: command.downgrade(alembic_config(database_url), revision))


def _retrying_deadlocks(run: Callable[[], None]) -> None:
    """Run an Alembic command, again when a deadlock aborted a revision: it goes on from the last one applied."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            run()
            return
        except Exception as exc:
            if attempt == ATTEMPTS or _sqlstate(exc) != DEADLOCK:
                raise
            log.warning("a migration deadlocked with live traffic (attempt %d of %d); retrying", attempt, ATTEMPTS)
            time.sleep(0.2 * attempt)


def _sqlstate(exc: BaseException | None) -> str | None:
    """The PostgreSQL error code behind an exception (SQLAlchemy wraps asyncpg's errors)."""
    seen = 0
    while exc is not None and seen < 10:
        for candidate in (exc, getattr(exc, "orig", None)):
            code = getattr(candidate, "sqlstate", None)
            if isinstance(code, str):
                return code
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def current(database_url: str) -> None:
    """Print the database's current revision."""
    from alembic import command

    command.current(alembic_config(database_url), verbose=False)


if __name__ == "__main__":
    from scoreboard.kit.logging import configure_logging

    level, _, fmt = os.environ.get(LOGGING_VARIABLE, "INFO:text").partition(":")
    configure_logging(level, fmt)
    upgrade(os.environ[URL_VARIABLE])
