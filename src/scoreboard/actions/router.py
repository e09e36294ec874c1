"""`/api/actions` (public) and `/api/admin/actions` (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from scoreboard.actions import service
from scoreboard.actions.schemas import ActionCreate, ActionPatch, ActionView
from scoreboard.deps import AdminUser, Db
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import Conflict, NotFound
from scoreboard.kit.routing import Route

public = APIRouter(prefix="/api/actions", tags=["actions"], route_class=Route)
admin = APIRouter(prefix="/api/admin/actions", tags=["admin"], route_class=Route)

UNKNOWN_ACTION = (NotFound, "No action has this id")
ActionPath = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


@public.get("", summary="Active actions with their points and policy")
async def list_active(conn: Db) -> list[ActionView]:
    """List what can be awarded, for how many points, under which policy."""
    return await service.list_actions(conn)


@admin.get("", summary="Every action, inactive ones included")
async def list_all(_: AdminUser, conn: Db) -> list[ActionView]:
    """List the whole catalog."""
    return await service.list_actions(conn, include_inactive=True)


@admin.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add an action",
    responses=answers((Conflict, "An action with this id exists")),
)
async def create(body: ActionCreate, _: AdminUser, conn: Db) -> ActionView:
    """Add an action to the catalog."""
    return await service.create_action(conn, body)


@admin.patch("/{action_id}", summary="Change an action (future awards only)", responses=answers(UNKNOWN_ACTION))
async def patch(action_id: ActionPath, body: ActionPatch, _: AdminUser, conn: Db) -> ActionView:
    """Change points, names, policy or activity; past awards keep the points they were given."""
    return await service.update_action(conn, action_id, body)


@admin.post("/{action_id}/deactivate", summary="Deactivate an action", responses=answers(UNKNOWN_ACTION))
async def deactivate(action_id: ActionPath, _: AdminUser, conn: Db) -> ActionView:
    """Stop awarding an action (its history stays)."""
    return await service.update_action(conn, action_id, ActionPatch(is_active=False))
