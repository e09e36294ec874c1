"""Rules for a user's own account."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from scoreboard.auth import repository as auth_repository
from scoreboard.auth.service import name_taken
from scoreboard.db import Connection
from scoreboard.kit.problems import NotFound
from scoreboard.users import repository
from scoreboard.users.schemas import PrivateUser, PublicProfile, UserUpdate


async def me(conn: Connection, user_id: UUID) -> PrivateUser:
    """Return the caller's own account."""
    row = await repository.private_user(conn, user_id)
    if row is None:
        raise NotFound("No such user.")
    return PrivateUser(**repository.to_dict(row))


async def update_me(conn: Connection, user_id: UUID, update: UserUpdate) -> PrivateUser:
    """Change the fields the user sent; a taken name or address is a 409."""
    changes = update.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return await me(conn, user_id)
    try:
        async with conn.transaction():
            row = await repository.update_user(conn, user_id, changes)
    except asyncpg.UniqueViolationError as exc:
        raise name_taken(exc) from exc
    if row is None:
        raise NotFound("No such user.")
    return PrivateUser(**repository.to_dict(row))


async def deactivate(conn: Connection, user_id: UUID, reason: str) -> tuple[PrivateUser, list[UUID]]:
    """Soft-delete a user and end their sessions; returns the user and the revoked session ids."""
    row = await repository.set_active(conn, user_id, False)
    if row is None:
        raise NotFound("No such user.")
    sessions = await auth_repository.revoke_user_sessions(conn, user_id, reason)
    return PrivateUser(**repository.to_dict(row)), sessions


async def reactivate(conn: Connection, user_id: UUID) -> PrivateUser:
    """Bring a deactivated user back (they log in again with their password)."""
    row = await repository.set_active(conn, user_id, True)
    if row is None:
        raise NotFound("No such user.")
    return PrivateUser(**repository.to_dict(row))


async def profile(conn: Connection, user_id: UUID) -> PublicProfile:
    """Return a public profile; deactivated users are not found."""
    row = await repository.public_profile(conn, user_id)
    if row is None:
        raise NotFound("No such user.")
    return PublicProfile(
        id=row["id"],
        username=row["username"],
        score=row["current_score"],
        rank=row["rank"],
        created_at=row["created_at"],
    )
