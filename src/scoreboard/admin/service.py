"""Admin rules for users."""

from __future__ import annotations

from scoreboard.admin import repository
from scoreboard.admin.schemas import UserPage
from scoreboard.db import Connection
from scoreboard.users.repository import to_dict
from scoreboard.users.schemas import PrivateUser


async def search_users(conn: Connection, query: str | None, limit: int, offset: int) -> UserPage:
    """Return one page of matching users."""
    rows, total = await repository.search_users(conn, query, limit, offset)
    return UserPage(items=[PrivateUser(**to_dict(r)) for r in rows], total=total, limit=limit, offset=offset)
