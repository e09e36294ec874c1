"""SQL for API keys."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from scoreboard.db import Connection

COLUMNS = "id, name, prefix, scopes, created_by, created_at, last_used_at, revoked_at"


async def insert_key(
    conn: Connection, *, name: str, prefix: str, key_hash: bytes, scopes: list[str], created_by: UUID | None
) -> asyncpg.Record:
    """Store a new key's digest."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO api_keys (name, prefix, key_hash, scopes, created_by) VALUES ($1, $2, $3, $4, $5)
        RETURNING {COLUMNS}
        """,
        name,
        prefix,
        key_hash,
        scopes,
        created_by,
    )
    assert row is not None
    return row


async def list_keys(conn: Connection) -> list[asyncpg.Record]:
    """Every key, newest first."""
    return await conn.fetch(f"SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id")


async def revoke_key(conn: Connection, key_id: UUID) -> bool:
    """Revoke a key (idempotent); False when no such key exists."""
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, CURRENT_TIMESTAMP) WHERE id = $1 RETURNING id",
        key_id,
    )
    return row is not None


async def live_key_by_hash(conn: Connection, key_hash: bytes) -> asyncpg.Record | None:
    """Find an unrevoked key and note its use (at most once a minute, to keep the hot path write-light)."""
    return await conn.fetchrow(
        """
        WITH k AS (SELECT id, scopes, last_used_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
        touched AS (
          UPDATE api_keys SET last_used_at = CURRENT_TIMESTAMP
          WHERE id = (SELECT id FROM k)
            AND (last_used_at IS NULL OR last_used_at < CURRENT_TIMESTAMP - INTERVAL '1 minute')
        )
        SELECT id, scopes FROM k
        """,
        key_hash,
    )
