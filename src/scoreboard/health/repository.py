"""SQL for the readiness probe."""

from __future__ import annotations

from scoreboard.db import Connection


async def applied_revisions(conn: Connection) -> tuple[str, ...]:
    """Return the Alembic revision(s) recorded in the database (empty if never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return ()
    rows = await conn.fetch("SELECT version_num FROM alembic_version ORDER BY version_num")
    return tuple(row["version_num"] for row in rows)
