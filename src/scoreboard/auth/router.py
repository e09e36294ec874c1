"""`/api/auth`: register, log in, refresh, log out, who am I."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from starlette.requests import HTTPConnection

from scoreboard.auth import repository, service
from scoreboard.auth.dependencies import Caller, CurrentUser
from scoreboard.auth.schemas import LoginRequest, RefreshRequest, RegisterRequest, TokenPair, WhoAmI
from scoreboard.config import Settings
from scoreboard.db import Db, after_commit, get_pool
from scoreboard.kit.problems import Unauthorized
from scoreboard.kit.ratelimit import SlidingWindow
from scoreboard.leaderboard.service import resync_after_commit
from scoreboard.redis import RedisClient
from scoreboard.users.repository import to_dict
from scoreboard.users.schemas import PrivateUser

router = APIRouter(prefix="/api/auth", tags=["auth"])


def get_settings(request: Request) -> Settings:
    """Return the app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_limiter(request: Request) -> SlidingWindow:
    """Return the app's sliding-window limiter."""
    limiter: SlidingWindow = request.app.state.limiter
    return limiter


def client_of(request: HTTPConnection) -> service.Client:
    """Describe where the request comes from."""
    return service.Client(
        ip=_address(request.client.host) if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _address(host: str) -> str | None:
    # Behind a trusted proxy uvicorn takes the client's address from X-Forwarded-For as sent, and PostgreSQL's inet
    # columns refuse anything that is not an address: an unusable one is recorded as unknown.
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


AppSettings = Annotated[Settings, Depends(get_settings)]
Limiter = Annotated[SlidingWindow, Depends(get_limiter)]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create a player account",
    responses={409: {"description": "Username or e-mail taken"}, 429: {"description": "Too many registrations"}},
)
async def register(
    body: RegisterRequest, request: Request, conn: Db, settings: AppSettings, limiter: Limiter
) -> PrivateUser:
    """Register a player; the username is unique regardless of case."""
    await service.throttle_registration(limiter, settings, client_of(request))
    row = await service.create_user(conn, settings, username=body.username, email=body.email, password=body.password)
    resync_after_commit(request, row["id"])  # a new player is on the board with 0 points
    return PrivateUser(**to_dict(row))


@router.post(
    "/login",
    summary="Log in with username or e-mail",
    responses={401: {"description": "Wrong login or password"}, 429: {"description": "Too many failures"}},
)
async def login(body: LoginRequest, request: Request, conn: Db, settings: AppSettings, limiter: Limiter) -> TokenPair:
    """Exchange credentials for an access token and a refresh token."""
    return await service.login(
        conn, limiter, settings, login=body.login, password=body.password, client=client_of(request)
    )


@router.post("/refresh", summary="Rotate a refresh token", responses={401: {"description": "Invalid or reused"}})
async def refresh(body: RefreshRequest, request: Request, settings: AppSettings, redis: RedisClient) -> TokenPair:
    """Spend a refresh token for a new pair; presenting a spent one revokes the whole session."""
    # This endpoint owns its transaction: a detected reuse must commit its revocation and still answer 401.
    async with get_pool(request).acquire() as conn, conn.transaction():
        outcome = await service.rotate(conn, settings, body.refresh_token)
    if outcome.reused_session is not None:
        await service.deny_sessions(redis, settings, [outcome.reused_session])
        raise Unauthorized("The refresh token was already used; the session has been revoked.")
    assert outcome.pair is not None
    return outcome.pair


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this session")
async def logout(request: Request, user: CurrentUser, conn: Db, settings: AppSettings, redis: RedisClient) -> None:
    """Revoke the session's refresh tokens and every access token it issued, on every instance."""
    assert user.session_id is not None
    await repository.revoke_session(conn, user.session_id, "logout")
    session_ids = [user.session_id]
    after_commit(request, lambda: service.deny_sessions(redis, settings, session_ids))


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
