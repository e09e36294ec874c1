"""`/api/admin/users`: list, search, deactivate and reactivate users."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from scoreboard.admin import service
from scoreboard.admin.schemas import UserPage
from scoreboard.auth import service as auth_service
from scoreboard.auth.schemas import RegisterRequest
from scoreboard.deps import AdminUser, AfterCommit, BoardDep, Db, PoolDep, RedisDep, SettingsDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import Conflict, NotFound
from scoreboard.kit.routing import Route
from scoreboard.leaderboard.service import sync_members
from scoreboard.users import service as users_service
from scoreboard.users.repository import to_dict
from scoreboard.users.schemas import PrivateUser

router = APIRouter(prefix="/api/admin/users", tags=["admin"], route_class=Route)


@router.get("", summary="List or search users")
async def list_users(
    admin: AdminUser,
    conn: Db,
    q: Annotated[str | None, Query(max_length=255, description="Part of a username or e-mail")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UserPage:
    """Page through users, newest first, optionally filtered."""
    return await service.search_users(conn, q, limit, offset)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a player account",
    responses=answers((Conflict, "The username or e-mail is taken (any case); `field` says which")),
)
async def create_user(
    body: RegisterRequest,
    admin: AdminUser,
    conn: Db,
    after_commit: AfterCommit,
    settings: SettingsDep,
    board: BoardDep,
    pool: PoolDep,
) -> PrivateUser:
    """Create a player as an admin (provisioning, demos): like registering, without the per-address throttle."""
    row = await auth_service.create_user(
        conn, settings, username=body.username, email=body.email, password=body.password
    )
    after_commit.add(lambda: sync_members(board, pool, [row["id"]]))  # on the board with 0 points
    return PrivateUser(**to_dict(row))


@router.post(
    "/{user_id}/deactivate",
    summary="Deactivate a user",
    responses=answers((NotFound, "No user has this id"), (Conflict, "Admins cannot deactivate themselves")),
)
async def deactivate(
    user_id: UUID,
    admin: AdminUser,
    conn: Db,
    after_commit: AfterCommit,
    redis: RedisDep,
    settings: SettingsDep,
    board: BoardDep,
    pool: PoolDep,
) -> PrivateUser:
    """Deactivate: the user leaves the board, their sessions end, they cannot log in."""
    if user_id == admin.user_id:
        raise Conflict("Admins cannot deactivate themselves; ask another admin.")
    user, sessions = await users_service.deactivate(conn, user_id, "deactivated_by_admin")
    after_commit.add(lambda: auth_service.deny_sessions(redis, settings, sessions))
    after_commit.add(lambda: sync_members(board, pool, [user.id]))
    return user


@router.post("/{user_id}/reactivate", summary="Reactivate a user", responses=answers((NotFound, "No user has this id")))
async def reactivate(
    user_id: UUID, admin: AdminUser, conn: Db, after_commit: AfterCommit, board: BoardDep, pool: PoolDep
) -> PrivateUser:
    """Reactivate: the user may log in again and is back on the board."""
    user = await users_service.reactivate(conn, user_id)
    after_commit.add(lambda: sync_members(board, pool, [user.id]))
    return user
