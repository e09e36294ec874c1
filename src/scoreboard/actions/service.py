"""Catalog rules: ids are unique, changes apply to future awards only."""

from __future__ import annotations

import asyncpg

from scoreboard.actions import repository
from scoreboard.actions.schemas import ActionCreate, ActionPatch, ActionView
from scoreboard.db import Connection
from scoreboard.kit.problems import Conflict, NotFound


async def list_actions(conn: Connection, *, include_inactive: bool = False) -> list[ActionView]:
    """Return the catalog."""
    rows = await repository.list_actions(conn, include_inactive=include_inactive)
    return [ActionView(**dict(row)) for row in rows]


async def create_action(conn: Connection, action: ActionCreate) -> ActionView:
    """Add an action; an existing id is a 409."""
    try:
        async with conn.transaction():
            row = await repository.insert_action(conn, action.model_dump())
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"Action {action.id!r} already exists.") from exc
    return ActionView(**dict(row))


async def update_action(conn: Connection, action_id: str, patch: ActionPatch) -> ActionView:
    """Change an action (points, names, policy, activity)."""
    row = await repository.update_action(conn, action_id, patch.model_dump(exclude_unset=True))
    if row is None:
        raise NotFound(f"No action {action_id!r}.")
    return ActionView(**dict(row))
