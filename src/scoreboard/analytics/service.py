"""Analytics reports: pick the window, run the query, shape the rows."""

from __future__ import annotations

from typing import Any

import asyncpg

from scoreboard.analytics import repository
from scoreboard.analytics.schemas import Daily, Day, Growth, Performer, SignupDay, TopAction, TopActions, TopPerformers
from scoreboard.db import Connection


def _plain(row: asyncpg.Record) -> dict[str, Any]:
    # numeric averages arrive as Decimal; the wire and CSV want plain numbers
    return {k: float(v) if k.startswith("avg") else v for k, v in row.items()}


async def top_actions(conn: Connection, days: int, limit: int) -> TopActions:
    """The most frequently awarded actions of the last `days` days."""
    since = await repository.window_start(conn, days, whole_days=False)
    rows = await repository.top_actions(conn, since, limit)
    return TopActions(days=days, since=since, items=[TopAction(**dict(r)) for r in rows])


async def daily(conn: Connection, days: int) -> Daily:
    """Awards per UTC day over the last `days` days (today included)."""
    since = await repository.window_start(conn, days, whole_days=True)
    rows = await repository.daily(conn, since)
    return Daily(days=days, since=since, items=[Day(**_plain(r)) for r in rows])


async def growth(conn: Connection, days: int) -> Growth:
    """Sign-ups per UTC day over the last `days` days (today included)."""
    since = await repository.window_start(conn, days, whole_days=True)
    rows = await repository.growth(conn, since)
    return Growth(days=days, since=since, items=[SignupDay(**dict(r)) for r in rows])


async def top_performers(conn: Connection, days: int, limit: int) -> TopPerformers:
    """Active players who earned the most points in the last `days` days."""
    since = await repository.window_start(conn, days, whole_days=False)
    rows = await repository.top_performers(conn, since, limit)
    return TopPerformers(days=days, since=since, items=[Performer(**dict(r)) for r in rows])
