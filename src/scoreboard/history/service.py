"""Rules for reading event logs: who may read whose history, page sizes, cursors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import asyncpg

from scoreboard.auth.principal import Principal
from scoreboard.db import Connection
from scoreboard.history import cursor, repository
from scoreboard.history.schemas import HistoryEntry, HistoryPage, UserStats, Violation, ViolationPage
from scoreboard.kit.problems import Forbidden, NotFound

T = TypeVar("T")


def readable_by(caller: Principal, user_id: UUID) -> None:
    """Let a player read only their own logs; admins read anyone's."""
    if caller.role != "admin" and caller.user_id != user_id:
        raise Forbidden("Players may read only their own history; use /api/users/me/history.")


def _page(rows: list[asyncpg.Record], limit: int, build: Callable[[asyncpg.Record], T]) -> tuple[list[T], str | None]:
    # One row more than asked was fetched: its presence alone says whether a next page exists.
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return [build(r) for r in rows], cursor.encode(last["created_at"], last["id"]) if more and last else None


def _entry(row: asyncpg.Record) -> HistoryEntry:
    return HistoryEntry(**dict(row))


async def history(conn: Connection, user_id: UUID, after: str | None, limit: int) -> HistoryPage:
    """One page of a user's awards, newest first; an unknown user is a 404."""
    position = cursor.decode(after) if after is not None else None
    rows = await repository.history(conn, user_id, position, limit + 1)
    if not rows and not await repository.user_exists(conn, user_id):
        raise NotFound("No such user.")
    items, next_cursor = _page(rows, limit, _entry)
    return HistoryPage(items=items, limit=limit, next_cursor=next_cursor)


async def stats(conn: Connection, user_id: UUID) -> UserStats:
    """A user's totals over their whole history."""
    totals, last = await repository.stats(conn, user_id)
    average = totals["average_points"]
    return UserStats(
        total_actions=totals["total_actions"],
        total_points=totals["total_points"],
        average_points=float(average) if average is not None else None,
        best_single_action=totals["best_single_action"],
        last_action=_entry(last) if last is not None else None,
    )


async def violations(
    conn: Connection, user_id: UUID | None, since: datetime | None, after: str | None, limit: int
) -> ViolationPage:
    """One page of rate-limit violations, newest first."""
    position = cursor.decode(after) if after is not None else None
    rows = await repository.violations(conn, user_id, since, position, limit + 1)
    items, next_cursor = _page(rows, limit, lambda r: Violation(**dict(r)))
    return ViolationPage(items=items, limit=limit, next_cursor=next_cursor)
