"""Account rules: register, log in, rotate refresh tokens, revoke sessions."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

from scoreboard.auth import passwords, repository, tokens
from scoreboard.auth.schemas import TokenPair
from scoreboard.config import Settings
from scoreboard.db import Connection
from scoreboard.kit import metrics
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.problems import Conflict, Forbidden, TooManyRequests, Unauthorized
from scoreboard.kit.ratelimit import Mode, SlidingWindow, Verdict

log = logging.getLogger(__name__)

INVALID_LOGIN = "The login or password is wrong."
LOGIN_ENDPOINT = "/api/auth/login"


def revoked_key(session_id: UUID) -> str:
    """Return the Redis key that marks a session's access tokens dead on every instance."""
    return f"auth:revoked:{session_id}"


@dataclass(frozen=True)
class Client:
    """Where a request comes from, for sessions, audits and throttles."""

    ip: str | None
    user_agent: str | None


async def create_user(
    conn: Connection, settings: Settings, *, username: str, email: str, password: str, role: str = "player"
) -> asyncpg.Record:
    """Create an account; 409 names the taken field (races included: the unique index decides)."""
    password_hash = await passwords.hash_password(password, settings.bcrypt_rounds)
    try:
        async with conn.transaction():  # a savepoint, so the request's transaction survives a 409
            return await repository.insert_user(
                conn, username=username, email=email, password_hash=password_hash, role=role
            )
    except asyncpg.UniqueViolationError as exc:
        raise name_taken(exc) from exc


def name_taken(exc: asyncpg.UniqueViolationError) -> Conflict:
    """Say which of a user's unique fields (username or e-mail, any case) is already taken."""
    field = "username" if "username" in (exc.constraint_name or "") else "email"
    return Conflict(f"That {field} is already taken.", field=field)


async def throttle_registration(limiter: SlidingWindow, settings: Settings, client: Client) -> None:
    """Refuse a client IP that registers too often."""
    verdict = await _check(
        limiter,
        f"rate_limit:ip:{client.ip}:/api/auth/register",
        settings.register_max_per_ip,
        settings.register_window_seconds,
        "hit",
    )
    if verdict and not verdict.allowed:
        metrics.REFUSALS.labels("register").inc()
        raise TooManyRequests("Too many registrations from this address.", retry_after=verdict.retry_after)


async def login(
    conn: Connection, limiter: SlidingWindow, settings: Settings, *, login: str, password: str, client: Client
) -> TokenPair:
    """Check credentials under per-account and per-IP failure throttles, then open a session."""
    window = settings.login_window_seconds
    user = await repository.user_by_login(conn, login)
    # Each attempt takes its slots before bcrypt runs, atomically in Redis, so concurrent guesses cannot all pass a
    # check made before any of them is counted. A success gives its slots back, so only failures stay counted.
    ip_key = f"rate_limit:ip:{client.ip}:{LOGIN_ENDPOINT}"
    ip_slot = await _take(limiter, ip_key, settings.login_max_failures_per_ip, window)
    try:
        await _take(limiter, account_key(login, user), settings.login_max_failures_per_account, window)
    except TooManyRequests:
        await _give_back(limiter, ip_slot)  # refused before any check: not a failure of this address
        raise
    ok = await passwords.verify_password(password, user["password_hash"] if user else None, settings.bcrypt_rounds)
    if not ok or user is None:
        raise Unauthorized(INVALID_LOGIN)
    await _give_back(limiter, ip_slot)
    try:
        await limiter.clear(account_key(login, user))  # as before: a success forgets the account's failures
    except RedisError:
        log.warning("could not clear the login throttle of an account (Redis unavailable)")
    return await open_session(conn, settings, user_id=user["id"], role=user["role"], client=client)


def account_key(login: str, user: asyncpg.Record | None) -> str:
    """Return the login throttle's key: the account's id, whatever name found it; an unknown name by itself."""
    if user is None:
        return f"rate_limit:login:{login.lower()}:{LOGIN_ENDPOINT}"
    return f"rate_limit:{user['id']}:{LOGIN_ENDPOINT}"


async def _take(limiter: SlidingWindow, key: str, limit: int, window: int) -> Verdict | None:
    verdict = await _check(limiter, key, limit, window, "hit")
    if verdict and not verdict.allowed:
        metrics.REFUSALS.labels("login").inc()
        raise TooManyRequests("Too many failed logins; try again later.", retry_after=verdict.retry_after)
    return verdict


async def _give_back(limiter: SlidingWindow, verdict: Verdict | None) -> None:
    if verdict is None:
        return
    try:
        await limiter.refund(verdict)
    except RedisError:
        log.warning("could not give back a login throttle slot (Redis unavailable)")


async def open_session(conn: Connection, settings: Settings, *, user_id: UUID, role: str, client: Client) -> TokenPair:
    """Start a session (refresh-token family) and return its first token pair."""
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds)
    session_id = await repository.insert_session(
        conn, user_id=user_id, expires_at=expires_at, ip=client.ip, user_agent=client.user_agent
    )
    return await _pair(conn, settings, session_id=session_id, user_id=user_id, role=role)


@dataclass(frozen=True)
class Rotation:
    """The outcome of presenting a refresh token."""

    pair: TokenPair | None = None
    reused_session: UUID | None = None


async def rotate(conn: Connection, settings: Settings, refresh_token: str) -> Rotation:
    """Spend a refresh token for a new pair; a spent token's reuse revokes its whole family."""
    token_hash = tokens.digest(refresh_token)
    row = await repository.refresh_token_for_update(conn, token_hash)
    if row is None:
        raise Unauthorized("The refresh token is not valid.")
    if row["used_at"] is not None:
        # Someone replays a spent token: either the client or a thief holds a copy. Kill the family.
        await repository.revoke_session(conn, row["session_id"], "refresh_token_reuse")
        return Rotation(reused_session=row["session_id"])
    if row["revoked_at"] is not None or row["expires_at"] <= datetime.now(UTC) or not row["is_active"]:
        raise Unauthorized("The refresh token is not valid.")
    await repository.spend_refresh_token(conn, token_hash)
    pair = await _pair(conn, settings, session_id=row["session_id"], user_id=row["user_id"], role=row["role"])
    return Rotation(pair=pair)


async def deny_sessions(redis: Pipelined, settings: Settings, session_ids: list[UUID]) -> None:
    """Mark the sessions' access tokens dead on every instance until they would expire anyway (after commit)."""
    if not session_ids:
        return
    ttl = settings.access_token_ttl_seconds + 10
    try:
        await asyncio.gather(*(redis.set(revoked_key(s), "1", ex=ttl) for s in session_ids))
    except RedisError:
        # PostgreSQL has the revocation; instances fall back to it only while Redis is unreachable.
        log.error("could not publish %d session revocation(s) to Redis", len(session_ids))


async def change_password(conn: Connection, settings: Settings, *, user_id: UUID, current: str, new: str) -> list[UUID]:
    """Replace the password after checking the current one; return the sessions to revoke."""
    user = await repository.user_by_id(conn, user_id)
    if user is None or not await passwords.verify_password(current, user["password_hash"], settings.bcrypt_rounds):
        raise Forbidden("The current password is wrong.")
    await repository.set_password_hash(conn, user_id, await passwords.hash_password(new, settings.bcrypt_rounds))
    return await repository.revoke_user_sessions(conn, user_id, "password_changed")


async def _pair(conn: Connection, settings: Settings, *, session_id: UUID, user_id: UUID, role: str) -> TokenPair:
    refresh = tokens.new_secret("sbr_")
    await repository.insert_refresh_token(conn, session_id=session_id, token_hash=tokens.digest(refresh))
    access = tokens.issue_access_token(settings, user_id=user_id, session_id=session_id, role=role)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=settings.access_token_ttl_seconds)


async def _check(limiter: SlidingWindow, key: str, limit: int, window: int, mode: Mode) -> Verdict | None:
    try:
        return await limiter.check(key, limit=limit, window_seconds=window, mode=mode)
    except RedisError:
        # Fail open: bcrypt's cost still bounds guessing, and logins must not depend on a cache.
        log.warning("login/registration throttle skipped: Redis unavailable")
        return None
