"""Validated API keys are cached per process: revoked at once where revoked, within the cache time elsewhere."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from scoreboard.config import Settings
from tests.fixtures.accounts import admin
from tests.fixtures.instances import instance


async def _key(client: httpx.AsyncClient, db: asyncpg.Connection) -> tuple[dict[str, str], str, dict[str, str]]:
    boss = await admin(client, db)
    created = await client.post(
        "/api/admin/api-keys", headers=boss.headers, json={"name": "g", "scopes": ["scores:write"]}
    )
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}, created.json()["id"], boss.headers


async def test_a_revoked_key_fails_at_once_where_revoked_and_within_the_cache_time_elsewhere(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    key, key_id, boss = await _key(client, db)
    async with instance(settings.model_copy(update={"api_key_cache_seconds": 0.5})) as other:
        assert (await other.get("/api/auth/whoami", headers=key)).status_code == 200  # now cached there
        assert (await client.get("/api/auth/whoami", headers=key)).status_code == 200  # and here
        assert (await client.delete(f"/api/admin/api-keys/{key_id}", headers=boss)).status_code == 204
        assert (await client.get("/api/auth/whoami", headers=key)).status_code == 401
        # The other process still trusts its cached answer, but not for longer than its cache time.
        assert (await other.get("/api/auth/whoami", headers=key)).status_code == 200
        await asyncio.sleep(0.6)
        assert (await other.get("/api/auth/whoami", headers=key)).status_code == 401


async def test_no_cache_asks_postgresql_every_time(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    key, key_id, _ = await _key(client, db)
    async with instance(settings.model_copy(update={"api_key_cache_seconds": 0})) as other:
        assert (await other.get("/api/auth/whoami", headers=key)).status_code == 200
        await db.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
        assert (await other.get("/api/auth/whoami", headers=key)).status_code == 401
