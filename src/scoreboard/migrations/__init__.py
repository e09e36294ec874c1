"""Alembic revisions; raw SQL, applied through the asyncpg connection."""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    """Run a multi-statement SQL script inside the migration's transaction."""
    # The asyncpg dialect prepares every statement, and a prepared statement holds exactly one
    # command; the driver's own execute() uses the simple protocol, which takes a whole script.
    raw = op.get_bind().connection.dbapi_connection
    assert raw is not None
    await_only(raw.driver_connection.execute(sql))
