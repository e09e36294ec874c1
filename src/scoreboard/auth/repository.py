"""SQL for accounts, sessions and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from scoreboard.db import Connection
from scoreboard.users.repository import PRIVATE_COLUMNS

USER_COLUMNS = "id, username, email, role, current_score, created_at, is_active, password_hash"


async def insert_user(conn: Connection, *, username: str, email: str, password_hash: str, role: str) -> asyncpg.Record:
    """Insert a user; raises UniqueViolationError when the name or address is taken."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO users (username, email, password_hash, role) VALUES ($1, $2, $3, $4)
        RETURNING {PRIVATE_COLUMNS}
        """,
        username,
        email,
        password_hash,
        role,
    )
    assert row is not None
    return row


async def user_by_login(conn: Connection, login: str) -> asyncpg.Record | None:
    """Find an active user by username or e-mail, case-insensitively."""
    return await conn.fetchrow(
        f"""
        SELECT {USER_COLUMNS} FROM users
        WHERE (lower(username) = lower($1) OR lower(email) = lower($1)) AND is_active
        """,
        login,
    )


async def user_by_id(conn: Connection, user_id: UUID) -> asyncpg.Record | None:
    """Find an active user by id."""
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND is_active", user_id)


async def set_password_hash(conn: Connection, user_id: UUID, password_hash: str) -> None:
    """Replace a user's password hash."""
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash)


async def insert_session(
    conn: Connection, *, user_id: UUID, expires_at: datetime, ip: str | None, user_agent: str | None
) -> UUID:
    """Open a session (a refresh-token family) and return its id."""
    session_id: UUID = await conn.fetchval(
        """
        INSERT INTO auth_sessions (user_id, expires_at, ip_address, user_agent)
        VALUES ($1, $2, $3::inet, $4) RETURNING id
        """,
        user_id,
        expires_at,
        ip,
        user_agent,
    )
    return session_id


async def insert_refresh_token(conn: Connection, *, session_id: UUID, token_hash: bytes) -> None:
    """Store a refresh token's digest."""
    await conn.execute("INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)", token_hash, session_id)


async def refresh_token_for_update(conn: Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Lock a refresh token with its session and user, so two rotations of one token serialise."""
    return await conn.fetchrow(
        """
        SELECT rt.session_id, rt.used_at, s.revoked_at, s.expires_at, s.user_id, u.role, u.is_active
        FROM refresh_tokens rt
        JOIN auth_sessions s ON s.id = rt.session_id
        JOIN users u ON u.id = s.user_id
        WHERE rt.token_hash = $1
        FOR UPDATE OF rt
        """,
        token_hash,
    )


async def spend_refresh_token(conn: Connection, token_hash: bytes) -> None:
    """Mark a refresh token used."""
    await conn.execute("UPDATE refresh_tokens SET used_at = CURRENT_TIMESTAMP WHERE token_hash = $1", token_hash)


async def revoke_session(conn: Connection, session_id: UUID, reason: str) -> None:
    """Revoke one session (idempotent)."""
    await conn.execute(
        """
        UPDATE auth_sessions SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = $2
        WHERE id = $1 AND revoked_at IS NULL
        """,
        session_id,
        reason,
    )


async def revoke_user_sessions(conn: Connection, user_id: UUID, reason: str) -> list[UUID]:
    """Revoke every live session of a user and return their ids."""
    rows = await conn.fetch(
        """
        UPDATE auth_sessions SET revoked_at = CURRENT_TIMESTAMP, revoked_reason = $2
        WHERE user_id = $1 AND revoked_at IS NULL
        RETURNING id
        """,
        user_id,
        reason,
    )
    return [row["id"] for row in rows]


async def session_is_live(conn: Connection, session_id: UUID, user_id: UUID, role: str) -> bool:
    """Whether a session exists for this user with this role, unrevoked and unexpired, and the user is active."""
    live: bool | None = await conn.fetchval(
        """
        SELECT s.revoked_at IS NULL AND s.expires_at > CURRENT_TIMESTAMP AND u.is_active
        FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = $1 AND s.user_id = $2 AND u.role = $3
        """,
        session_id,
        user_id,
        role,
    )
    return bool(live)


async def recently_revoked_sessions(conn: Connection, within_seconds: int) -> list[UUID]:
    """Sessions revoked within the last `within_seconds` (their access tokens may still be unexpired)."""
    rows = await conn.fetch(
        """
        SELECT id FROM auth_sessions
        WHERE revoked_at > CURRENT_TIMESTAMP - make_interval(secs => $1)
        """,
        within_seconds,
    )
    return [row["id"] for row in rows]
