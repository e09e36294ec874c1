"""`/healthz` and `/readyz` against real, missing, slow and out-of-date dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard import migrate
from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from tests.fixtures.apps import running
from tests.fixtures.polling import eventually


async def _client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_healthz_is_alive(client: httpx.AsyncClient) -> None:
    """Liveness answers without touching any dependency."""
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_everything_answers(client: httpx.AsyncClient, redis: Redis) -> None:
    """Ready when PostgreSQL answers at the head revision, Redis answers and the board mirrors PostgreSQL."""
    await eventually(lambda: redis.exists("leaderboard:built"))  # the reconciler's first pass builds it
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "board": "ok"}}


async def test_readyz_reports_postgres_down(settings: Settings) -> None:
    """Nothing listening on the PostgreSQL port gives 503 naming postgres, not a 500."""
    down = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    async for http in _client_for(down):
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["postgres"] != "ok"
    assert "postgres" in body["detail"]


async def test_readyz_reports_redis_down(settings: Settings) -> None:
    """Nothing listening on the Redis port gives 503 naming redis."""
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async for http in _client_for(down):
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"] == "ok"
    assert "ConnectionError" in response.json()["checks"]["redis"]


async def test_readyz_gives_up_on_a_silent_dependency(settings: Settings, silent_port: int) -> None:
    """A dependency that accepts but never answers costs at most the readiness deadline."""
    slow = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{silent_port}/0", "readiness_timeout_seconds": 0.3}
    )
    async for http in _client_for(slow):
        started = asyncio.get_running_loop().time()
        response = await http.get("/readyz")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "no answer within 0.3s"
    assert elapsed < 2


async def test_readyz_reports_pending_migrations(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """A database behind the code's head revision is not ready, and says which revision it is at."""
    await db.execute("DELETE FROM alembic_version")
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["postgres"] == (
        f"migrations not at head (database at none; head is {', '.join(migrate.head_revisions())})"
    )
