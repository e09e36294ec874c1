"""Issue and revoke API keys."""

from __future__ import annotations

from uuid import UUID

from scoreboard.apikeys import repository
from scoreboard.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyView
from scoreboard.auth import tokens
from scoreboard.db import Connection
from scoreboard.kit.problems import NotFound

KEY_PREFIX = "sbk_"


async def create_key(conn: Connection, request: ApiKeyCreate, *, created_by: UUID | None) -> ApiKeyCreated:
    """Create a key and return it with its secret (stored only as a digest)."""
    secret = tokens.new_secret(KEY_PREFIX)
    row = await repository.insert_key(
        conn,
        name=request.name,
        prefix=secret[:12],
        key_hash=tokens.digest(secret),
        scopes=sorted(set(request.scopes)),
        created_by=created_by,
    )
    return ApiKeyCreated(**dict(row), key=secret)


async def list_keys(conn: Connection) -> list[ApiKeyView]:
    """Return every key without secrets."""
    return [ApiKeyView(**dict(row)) for row in await repository.list_keys(conn)]


async def revoke_key(conn: Connection, key_id: UUID) -> None:
    """Revoke a key at once."""
    if not await repository.revoke_key(conn, key_id):
        raise NotFound("No such API key.")
