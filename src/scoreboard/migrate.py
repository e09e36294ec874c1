"""Run Alembic programmatically: the migrations ship inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory


def alembic_config(database_url: str) -> Config:
    """Return an Alembic config for `database_url` using the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", "scoreboard:migrations")
    # SQLAlchemy (only for Alembic) talks to PostgreSQL through asyncpg, our one driver.
    url = database_url.replace("postgresql://", "postgresql+asyncpg://", 1).replace(
        "postgres://", "postgresql+asyncpg://", 1
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> tuple[str, ...]:
    """Return the head revision id(s) of the packaged migrations."""
    return tuple(ScriptDirectory.from_config(alembic_config("postgresql://x/x")).get_heads())


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to `revision`."""
    command.downgrade(alembic_config(database_url), revision)


def current(database_url: str) -> None:
    """Print the database's current revision."""
    command.current(alembic_config(database_url), verbose=False)
