"""`/api/auth`: register, log in, refresh, log out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, status

from scoreboard.auth import repository, service
from scoreboard.auth.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenPair, WhoAmI
from scoreboard.deps import (
    AfterCommit,
    BoardDep,
    Caller,
    ClientInfo,
    CurrentUser,
    Db,
    LimiterDep,
    PoolDep,
    RedisDep,
    SettingsDep,
)
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import Conflict, Forbidden, TooManyRequests, Unauthorized
from scoreboard.kit.routing import Route
from scoreboard.leaderboard.service import sync_members
from scoreboard.users.repository import to_dict
from scoreboard.users.schemas import PrivateUser

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=Route)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create a player account",
    responses=answers(
        (Conflict, "The username or e-mail is taken (any case); `field` says which"),
        (TooManyRequests, "Too many registrations from this address; see Retry-After"),
    ),
)
async def register(
    body: RegisterRequest,
    client: ClientInfo,
    conn: Db,
    after_commit: AfterCommit,
    settings: SettingsDep,
    limiter: LimiterDep,
    board: BoardDep,
    pool: PoolDep,
) -> PrivateUser:
    """Register a player; the username is unique regardless of case."""
    await service.throttle_registration(limiter, settings, client)
    row = await service.create_user(conn, settings, username=body.username, email=body.email, password=body.password)
    after_commit.add(lambda: sync_members(board, pool, [row["id"]]))  # on the board with 0 points
    return PrivateUser(**to_dict(row))


@router.post(
    "/login",
    summary="Log in with username or e-mail",
    responses=answers(
        (Unauthorized, "Wrong login or password, or the account is deactivated"),
        (TooManyRequests, "Too many failed logins for this account or from this address; see Retry-After"),
    ),
)
async def login(
    body: LoginRequest, client: ClientInfo, conn: Db, settings: SettingsDep, limiter: LimiterDep
) -> TokenPair:
    """Exchange credentials for an access token and a refresh token."""
    return await service.login(conn, limiter, settings, login=body.login, password=body.password, client=client)


@router.post(
    "/refresh",
    summary="Rotate a refresh token",
    responses=answers((Unauthorized, "Unknown, expired or revoked; a reused one also revokes its session")),
)
async def refresh(body: RefreshRequest, pool: PoolDep, settings: SettingsDep, redis: RedisDep) -> TokenPair:
    """Spend a refresh token for a new pair; presenting a spent one revokes the whole session."""
    # This endpoint owns its transaction: a detected reuse must commit its revocation and still answer 401.
    async with pool.acquire() as conn, conn.transaction():
        outcome = await service.rotate(conn, settings, body.refresh_token)
    if outcome.reused_session is not None:
        await service.deny_sessions(redis, settings, [outcome.reused_session])
        raise Unauthorized("The refresh token was already used; the session has been revoked.")
    assert outcome.pair is not None
    return outcome.pair


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke this session",
    responses=answers((Forbidden, "An API key: only a user's session can end")),
)
async def logout(
    user: CurrentUser, conn: Db, after_commit: AfterCommit, settings: SettingsDep, redis: RedisDep
) -> None:
    """Revoke the session's refresh tokens and every access token it issued, on every instance."""
    assert user.session_id is not None
    await repository.revoke_session(conn, user.session_id, "logout")
    session_ids = [user.session_id]
    after_commit.add(lambda: service.deny_sessions(redis, settings, session_ids))


@router.get("/whoami", summary="Describe the caller")
async def whoami(principal: Caller) -> WhoAmI:
    """Say whose credentials these are: a user's token or an API key with its scopes."""
    return WhoAmI(
        kind=principal.kind,
        user_id=principal.user_id,
        role=principal.role,
        api_key_id=principal.api_key_id,
        scopes=sorted(principal.scopes),
    )
