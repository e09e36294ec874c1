"""`/api/admin/users`: list, search, deactivate and reactivate users."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, status

from scoreboard.admin import service
from scoreboard.admin.schemas import UserPage
from scoreboard.auth import service as auth_service
from scoreboard.auth.dependencies import AdminUser
from scoreboard.auth.router import AppSettings
from scoreboard.auth.schemas import RegisterRequest
from scoreboard.db import Db, after_commit
from scoreboard.kit.problems import Conflict
from scoreboard.leaderboard.service import resync_after_commit
from scoreboard.redis import RedisClient
from scoreboard.users import service as users_service
from scoreboard.users.repository import to_dict
from scoreboard.users.schemas import PrivateUser

router = APIRouter(prefix="/api/admin/users", tags=["admin"])


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


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a player account")
async def create_user(
    body: RegisterRequest, request: Request, admin: AdminUser, conn: Db, settings: AppSettings
) -> PrivateUser:
    """Create a player as an admin (provisioning, demos): like registering, without the per-address throttle."""
    row = await auth_service.create_user(
        conn, settings, username=body.username, email=body.email, password=body.password
    )
    resync_after_commit(request, row["id"])  # a new player is on the board with 0 points
    return PrivateUser(**to_dict(row))


@router.post("/{user_id}/deactivate", summary="Deactivate a user")
async def deactivate(
    user_id: UUID, request: Request, admin: AdminUser, conn: Db, redis: RedisClient, settings: AppSettings
) -> PrivateUser:
    """Deactivate: the user leaves the board, their sessions end, they cannot log in."""
    if user_id == admin.user_id:
        raise Conflict("Admins cannot deactivate themselves; ask another admin.")
    user, sessions = await users_service.deactivate(conn, user_id, "deactivated_by_admin")
    after_commit(request, lambda: auth_service.deny_sessions(redis, settings, sessions))
    resync_after_commit(request, user.id)
    return user


@router.post("/{user_id}/reactivate", summary="Reactivate a user")
async def reactivate(user_id: UUID, request: Request, admin: AdminUser, conn: Db) -> PrivateUser:
    """Reactivate: the user may log in again and is back on the board."""
    user = await users_service.reactivate(conn, user_id)
    resync_after_commit(request, user.id)
    return user
