"""Admin endpoints for API keys."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from scoreboard.apikeys import service
from scoreboard.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyView
from scoreboard.deps import AdminUser, AfterCommit, ApiKeysDep, Db
from scoreboard.kit.openapi import answers
from scoreboard.kit.problems import NotFound
from scoreboard.kit.routing import Route

router = APIRouter(prefix="/api/admin/api-keys", tags=["admin"], route_class=Route)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (shown once)")
async def create_key(body: ApiKeyCreate, admin: AdminUser, conn: Db) -> ApiKeyCreated:
    """Create a key for a trusted game server."""
    return await service.create_key(conn, body, created_by=admin.user_id)


@router.get("", summary="List API keys")
async def list_keys(admin: AdminUser, conn: Db) -> list[ApiKeyView]:
    """List keys with their scopes and last use, never the secrets."""
    return await service.list_keys(conn)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses=answers((NotFound, "No API key has this id")),
)
async def revoke_key(key_id: UUID, admin: AdminUser, conn: Db, after_commit: AfterCommit, cache: ApiKeysDep) -> None:
    """Revoke a key: at once in this process, within SCOREBOARD_API_KEY_CACHE_SECONDS in every other."""
    await service.revoke_key(conn, key_id)

    async def forget() -> None:
        cache.forget(key_id)

    after_commit.add(forget)
