"""Leaderboard endpoints: shapes, bounds, 404s, the seed's score cache."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.fixtures.accounts import player


async def test_top_page_and_my_rank(client: httpx.AsyncClient) -> None:
    """A new player is ranked with 0 points; an award moves them to the top; /me needs a token."""
    first, second = await player(client), await player(client)
    await client.post("/api/scores", headers=second.headers, json={"actionId": "complete-quest"})
    page = await client.get("/api/leaderboard")
    assert page.headers["x-scoreboard-source"] == "redis"
    body = page.json()
    assert body["totalPlayers"] == 2
    assert [(e["username"], e["score"], e["rank"]) for e in body["entries"]] == [
        (second.username, 10, 1),
        (first.username, 0, 2),
    ]
    mine = (await client.get("/api/leaderboard/me", headers=first.headers)).json()
    assert (mine["rank"], mine["score"], mine["totalPlayers"], mine["percentile"]) == (2, 0, 2, 0.0)
    top = (await client.get(f"/api/users/{second.id}/rank")).json()
    assert (top["rank"], top["percentile"]) == (1, 50.0)
    assert (await client.get("/api/leaderboard/me")).status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "/api/leaderboard?limit=0",
        "/api/leaderboard?limit=101",
        "/api/leaderboard?offset=-1",
        "/api/leaderboard?limit=abc",
        "/api/leaderboard/around/00000000-0000-4000-8000-000000000001?radius=51",
        "/api/leaderboard/around/not-a-uuid",
        "/api/leaderboard/range?min=10&max=5",
        "/api/leaderboard/range?min=-1&max=5",
        "/api/leaderboard/range?max=5",
        "/api/users/not-a-uuid/rank",
    ],
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, url: str) -> None:
    """Every parameter is bounded."""
    response = await client.get(url)
    assert (response.status_code, response.headers["content-type"]) == (422, "application/problem+json")


async def test_unranked_users_are_404(client: httpx.AsyncClient) -> None:
    """Unknown users have no rank and no neighbours."""
    ghost = uuid4()
    assert (await client.get(f"/api/users/{ghost}/rank")).status_code == 404
    assert (await client.get(f"/api/leaderboard/around/{ghost}")).status_code == 404
    assert (await client.get(f"/api/users/{ghost}/score")).status_code == 404


async def test_friends_board_reports_missing_and_bounds_its_size(client: httpx.AsyncClient) -> None:
    """Ranks for a list; unknown ids are listed as missing; more than 100 ids is a 422."""
    a, b = await player(client), await player(client)
    ghost = uuid4()
    body = (await client.post("/api/leaderboard/ranks", json={"userIds": [str(a.id), str(ghost), str(b.id)]})).json()
    assert {e["userId"] for e in body["entries"]} == {str(a.id), str(b.id)}
    assert body["missing"] == [str(ghost)]
    too_many = {"userIds": [str(uuid4()) for _ in range(101)]}
    assert (await client.post("/api/leaderboard/ranks", json=too_many)).status_code == 422
    assert (await client.post("/api/leaderboard/ranks", json={"userIds": []})).status_code == 422


async def test_score_comes_from_the_cache_and_refills_it(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """`user:{id}:score` answers; on a miss PostgreSQL does and the key is refilled with a TTL."""
    account = await player(client)
    await db.execute("UPDATE users SET current_score = 42 WHERE id = $1", account.id)
    first = await client.get(f"/api/users/{account.id}/score")
    assert (first.json()["score"], first.headers["x-scoreboard-source"]) == (42, "postgres")
    assert await redis.get(f"user:{account.id}:score") == "42"
    assert 3500 < await redis.ttl(f"user:{account.id}:score") <= 3600
    second = await client.get(f"/api/users/{account.id}/score")
    assert (second.json()["score"], second.headers["x-scoreboard-source"]) == (42, "redis")


async def test_batch_scores_use_one_mget(client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis) -> None:
    """Cached and uncached scores together; inactive and unknown users are left out."""
    a, b, c = await player(client), await player(client), await player(client)
    await redis.set(f"user:{a.id}:score", 5)
    await db.execute("UPDATE users SET current_score = 9 WHERE id = $1", b.id)
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", c.id)
    ids = [str(a.id), str(b.id), str(c.id), str(uuid4())]
    body = (await client.post("/api/users/scores", json={"userIds": ids})).json()
    assert body == {"scores": {str(a.id): 5, str(b.id): 9}}
    assert await redis.get(f"user:{b.id}:score") == "9"
