"""`/api/users`: the caller's own account and public profiles."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from scoreboard.auth import service as auth_service
from scoreboard.deps import AfterCommit, BoardDep, CurrentUser, Db, PoolDep, RedisDep, SettingsDep
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import Conflict, Forbidden, NotFound
from scoreboard.kit.routing import Route
from scoreboard.leaderboard.service import sync_members
from scoreboard.users import service
from scoreboard.users.schemas import PasswordChange, PrivateUser, PublicProfile, UserUpdate

router = APIRouter(prefix="/api/users", tags=["users"], route_class=Route)
# Only while a revocation has not reached Redis yet, or after the database lost the account (a restore).
GONE = (NotFound, "The account no longer exists, or was deactivated after this token was issued")


@router.get("/me", summary="My account", responses=answers(GONE))
async def get_me(user: CurrentUser, conn: Db) -> PrivateUser:
    """Return the caller's account, e-mail included."""
    assert user.user_id is not None
    return await service.me(conn, user.user_id)


@router.patch(
    "/me",
    summary="Change my username, e-mail or metadata",
    responses=answers(GONE, (Conflict, "The username or e-mail is taken (any case); `field` says which")),
)
async def patch_me(
    body: UserUpdate, user: CurrentUser, conn: Db, after_commit: AfterCommit, board: BoardDep, pool: PoolDep
) -> PrivateUser:
    """Change only the whitelisted fields; anything else in the body is a 422."""
    user_id = user.user_id
    assert user_id is not None
    if body.username is not None:
        after_commit.add(lambda: sync_members(board, pool, [user_id]))  # the board shows usernames
    return await service.update_me(conn, user_id, body)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT, summary="Delete my account", responses=answers(GONE))
async def delete_me(
    user: CurrentUser,
    conn: Db,
    after_commit: AfterCommit,
    redis: RedisDep,
    settings: SettingsDep,
    board: BoardDep,
    pool: PoolDep,
) -> None:
    """Deactivate the account: it leaves the leaderboard, its sessions end, it can no longer log in."""
    assert user.user_id is not None
    account, sessions = await service.deactivate(conn, user.user_id, "account_deleted")
    after_commit.add(lambda: auth_service.deny_sessions(redis, settings, sessions))
    after_commit.add(lambda: sync_members(board, pool, [account.id]))


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password",
    responses=answers((Forbidden, "An API key, or the current password is wrong")),
)
async def change_password(
    body: PasswordChange, user: CurrentUser, conn: Db, after_commit: AfterCommit, redis: RedisDep, settings: SettingsDep
) -> None:
    """Change the password; every session of the user (this one included) is revoked at once."""
    assert user.user_id is not None
    sessions = await auth_service.change_password(
        conn, settings, user_id=user.user_id, current=body.current_password, new=body.new_password
    )
    after_commit.add(lambda: auth_service.deny_sessions(redis, settings, sessions))


@router.get(
    "/{user_id:id}",
    summary="A player's public profile",
    responses=answers((NotFound, "No active user has this id")),
)
async def get_profile(user_id: UUID, conn: Db) -> PublicProfile:
    """Return username, score, rank and join date; never e-mail or hashes."""
    return await service.profile(conn, user_id)
