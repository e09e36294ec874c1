"""Tops from memory: no Redis call per read, at once after an award here, soon after one elsewhere; ETags and 304s."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from tests.fixtures.accounts import admin, player
from tests.fixtures.apps import running
from tests.fixtures.boards import add_board
from tests.fixtures.polling import eventually
from tests.fixtures.served import Service, served_env


async def award(client: httpx.AsyncClient, headers: dict[str, str], action: str = "complete-quest") -> None:
    """One award (201 expected)."""
    response = await client.post("/api/scores", headers=headers, json={"actionId": action})
    assert response.status_code == 201, response.text


async def kept(client: httpx.AsyncClient, path: str = "/api/leaderboard") -> httpx.Response:
    """A top answered from memory (after the start-up rebuild of an empty Redis, which reads PostgreSQL meanwhile)."""
    found: list[httpx.Response] = []

    async def answered_from_memory() -> bool:
        found[:] = [await client.get(path)]
        return "etag" in found[0].headers

    await eventually(answered_from_memory)
    return found[0]


async def script_calls(redis: Redis) -> int:
    """Scripts Redis has run so far (every board read is one)."""
    stats = await redis.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


@pytest.fixture
async def quiet(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose reconciler stays out of the way (its passes run scripts too)."""
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 3600})) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def test_reads_of_an_unmoved_top_make_no_redis_call(quiet: httpx.AsyncClient, redis: Redis) -> None:
    """Fifty reads of the top after one award: memory, but for one re-read when the award's message arrives."""
    client = quiet
    someone = await player(client)
    await award(client, someone.headers)
    first = await kept(client, "/api/leaderboard?limit=10")
    before = await script_calls(redis)
    for _ in range(50):
        again = await client.get("/api/leaderboard", params={"limit": 10})
        assert again.json()["entries"] == first.json()["entries"]
    # At most one: the award's own message may reach this process's subscription after the first read, and moves the
    # top once more (a read per change, never a read per request).
    assert await script_calls(redis) - before <= 1
    assert first.headers["x-scoreboard-source"] == "redis"


async def test_an_award_here_shows_in_the_next_read(client: httpx.AsyncClient) -> None:
    """The awarding process answers from its refreshed top at once, every time."""
    someone = await player(client)
    for expected in (10, 20, 30):
        await award(client, someone.headers)
        top = (await client.get("/api/leaderboard", params={"limit": 5})).json()
        assert [(e["userId"], e["score"]) for e in top["entries"][:1]] == [(str(someone.id), expected)]


async def test_an_unchanged_top_is_a_304_until_an_award_moves_it(client: httpx.AsyncClient) -> None:
    """Strong ETag per board version; If-None-Match (plain, weak or a list) gets a 304 with no body."""
    someone = await player(client)
    await award(client, someone.headers)
    first = await kept(client, "/api/leaderboard?limit=10")
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["cache-control"] == "no-cache"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = await client.get("/api/leaderboard", params={"limit": 10}, headers={"If-None-Match": header})
        assert (cached.status_code, cached.content, cached.headers["etag"]) == (304, b"", etag)
    other = await client.get("/api/leaderboard", params={"limit": 10, "offset": 1}, headers={"If-None-Match": etag})
    assert other.status_code == 200  # another body, another tag
    await award(client, someone.headers)
    moved = await client.get("/api/leaderboard", params={"limit": 10}, headers={"If-None-Match": etag})
    assert moved.status_code == 200
    assert moved.headers["etag"] != etag
    assert moved.json()["entries"][0]["score"] == 20


async def test_a_period_board_top_has_etags_too(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """`/api/boards/{id}/entries` of a current period: memory, ETag, 304; archives and cursors read as before."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily")
    someone = await player(client)
    await award(client, someone.headers)
    first = await kept(client, "/api/boards/today/entries")
    assert [e["score"] for e in first.json()["entries"]] == [10]
    cached = await client.get("/api/boards/today/entries", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304
    await award(client, someone.headers)
    assert [e["score"] for e in (await client.get("/api/boards/today/entries")).json()["entries"]] == [20]
    archived = await client.get("/api/boards/today/entries", params={"period": "previous"})
    assert "etag" not in archived.headers


@pytest.fixture
async def cached_for_a_minute(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose tops may be reused for 60 s and that keeps only the top 10 in memory."""
    custom = {"read_cache_seconds": 60, "read_top_size": 10, "register_max_per_ip": 100}
    async with running(settings.model_copy(update=custom)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def test_cache_control_follows_the_setting_and_deep_pages_still_read_redis(
    cached_for_a_minute: httpx.AsyncClient,
) -> None:
    """`public, max-age=60`; a page past the kept top answers exactly as before (no ETag)."""
    http = cached_for_a_minute
    accounts = [await player(http) for _ in range(12)]
    for n, account in enumerate(accounts):
        for _ in range(n % 3 + 1):
            await award(http, account.headers)
    top = await kept(http, "/api/leaderboard?limit=10")
    assert top.headers["cache-control"] == "public, max-age=60"
    deep = await http.get("/api/leaderboard", params={"limit": 10, "offset": 5})
    assert "etag" not in deep.headers
    assert deep.json()["entries"][:5] == top.json()["entries"][5:10]
    assert deep.json()["totalPlayers"] == top.json()["totalPlayers"] == 12


async def test_an_award_through_one_process_shows_on_another_within_100_ms(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> None:
    """Two served processes: after the 201 from A, B's top reflects the award within 100 ms (median of five)."""
    a = Service(served_env(settings, data_dir), tmp_path, free_port())
    b = Service(served_env(settings, data_dir), tmp_path, free_port())
    a.start()
    b.start()
    try:
        async with httpx.AsyncClient(base_url=a.base) as on_a, httpx.AsyncClient(base_url=b.base) as on_b:
            someone = await player(on_a)
            await award(on_a, someone.headers)
            await on_b.get("/api/leaderboard")  # B keeps the top in memory from here
            delays = []
            for n in range(2, 7):
                await award(on_a, someone.headers)
                done = time.monotonic()
                while True:
                    top = (await on_b.get("/api/leaderboard", params={"limit": 1})).json()["entries"]
                    if top and top[0]["score"] == 10 * n:
                        break
                    assert time.monotonic() - done < 2, "B never showed the award"
                    await asyncio.sleep(0.002)
                delays.append(time.monotonic() - done)
        assert statistics.median(delays) < 0.1, delays
    finally:
        a.stop()
        b.stop()


async def test_every_process_gives_an_unmoved_board_the_same_etag(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The body (and so the ETag) depends on the board alone: another process, or a later re-read, gives the same."""
    someone = await player(client)
    await award(client, someone.headers)
    here = await kept(client, "/api/leaderboard?limit=10")
    async with running(settings) as other:
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as there:
            elsewhere = await kept(there, "/api/leaderboard?limit=10")
    assert (elsewhere.headers["etag"], elsewhere.content) == (here.headers["etag"], here.content)
    await asyncio.sleep(1.2)  # past the top's age limit: read again from Redis, unchanged
    again = await client.get("/api/leaderboard", params={"limit": 10}, headers={"If-None-Match": here.headers["etag"]})
    assert again.status_code == 304
