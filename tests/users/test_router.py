"""The caller's own account, public profiles, and leaderboard membership on (de)activation."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.fixtures.accounts import admin, player, register
from tests.fixtures.problems import assert_problem


async def test_me_shows_the_private_view(client: httpx.AsyncClient) -> None:
    """GET /me has e-mail, role and metadata; never the password hash."""
    account = await player(client)
    body = (await client.get("/api/users/me", headers=account.headers)).json()
    assert (body["id"], body["email"], body["role"], body["metadata"]) == (str(account.id), account.email, "player", {})
    assert "hash" not in str(body).lower()


async def test_patch_changes_only_what_was_sent(client: httpx.AsyncClient) -> None:
    """Username, e-mail and metadata change independently; e-mail is normalised."""
    account = await player(client)
    response = await client.patch("/api/users/me", headers=account.headers, json={"metadata": {"tier": "gold"}})
    assert (response.json()["metadata"], response.json()["username"]) == ({"tier": "gold"}, account.username)
    response = await client.patch("/api/users/me", headers=account.headers, json={"email": "New@Example.com"})
    assert (response.json()["email"], response.json()["metadata"]) == ("new@example.com", {"tier": "gold"})
    assert (await client.patch("/api/users/me", headers=account.headers, json={})).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": {"blob": "x" * 5000}},
        {"metadata": ["not", "an", "object"]},
        {"metadata": {"n": 123456789012345678901234567890}},  # past 64 bits: JSON's encoder refuses it
        {"metadata": {"s": "\udc00"}},  # a lone surrogate is not UTF-8
        {"metadata": {"s": "a\x00b"}},  # jsonb cannot hold NUL
        {"metadata": {"deep": [{"k\x00": 1}]}},
        {"username": "no spaces"},
        {"email": "broken@"},
        {"currentScore": 10_000},
        {"role": "admin"},
        {"isActive": False},
    ],
)
async def test_patch_rejects_invalid_or_forbidden_fields(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: dict[str, object]
) -> None:
    """Bad values and non-whitelisted fields are 422 and change nothing."""
    account = await player(client)
    # Encoded here: httpx's encoder cannot send a lone surrogate, which JSON's \u escapes can.
    headers = {**account.headers, "Content-Type": "application/json"}
    response = await client.patch("/api/users/me", headers=headers, content=json.dumps(body))
    assert response.status_code == 422
    row = await db.fetchrow("SELECT role, current_score, is_active, metadata FROM users WHERE id = $1", account.id)
    assert tuple(row.values()) == ("player", 0, True, "{}")


async def test_patch_to_a_taken_name_is_409(client: httpx.AsyncClient) -> None:
    """Renaming onto someone else's name (any case) conflicts."""
    await register(client, username="Taken")
    account = await player(client)
    response = await client.patch("/api/users/me", headers=account.headers, json={"username": "TAKEN"})
    assert (response.status_code, response.json()["field"]) == (409, "username")


async def test_public_profile_has_competition_rank(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Ties share a rank (1, 2, 2, 4); inactive users neither count nor show."""
    accounts = [await register(client) for _ in range(5)]
    for account, score in zip(accounts, (50, 30, 30, 10, 99), strict=True):
        await db.execute("UPDATE users SET current_score = $2 WHERE id = $1", account.id, score)
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", accounts[4].id)
    ranks = [(await client.get(f"/api/users/{a.id}")).json() for a in accounts[:4]]
    assert [(p["score"], p["rank"]) for p in ranks] == [(50, 1), (30, 2), (30, 2), (10, 4)]
    assert set(ranks[0]) == {"id", "username", "score", "rank", "createdAt"}
    assert (await client.get(f"/api/users/{accounts[4].id}")).status_code == 404
    assert (await client.get("/api/users/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await client.get("/api/users/not-a-uuid")).status_code == 422


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_the_score_batch_is_not_a_profile(client: httpx.AsyncClient, method: str) -> None:
    """`/api/users/scores` answers only POST: any other method is a 405 naming it, not a profile with a bad id."""
    response = await client.request(method, "/api/users/scores")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_every_route_under_a_user_id_takes_any_spelling_of_a_uuid(client: httpx.AsyncClient) -> None:
    """Upper case, no hyphens: a UUID is a UUID; `me` and other bare words are routes, never an id."""
    account = await player(client)
    for spelling in (str(account.id), str(account.id).upper(), account.id.hex):
        for tail in ("", "/rank", "/score"):
            response = await client.get(f"/api/users/{spelling}{tail}")
            assert response.status_code == 200, (spelling, tail, response.text)
        assert (await client.get(f"/api/users/{spelling}/history", headers=account.headers)).status_code == 200
    for tail in ("/rank", "/score"):
        assert_problem(await client.get(f"/api/users/me{tail}"), 404)


async def test_delete_me_soft_deletes_and_leaves_the_board(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """The row stays (history is kept), the user is off the board and the score cache, and cannot log in."""
    account = await player(client)
    await redis.zadd("leaderboard", {str(account.id): 40})
    await redis.set(f"user:{account.id}:score", 40, ex=3600)
    assert (await client.delete("/api/users/me", headers=account.headers)).status_code == 204
    assert await db.fetchval("SELECT is_active FROM users WHERE id = $1", account.id) is False
    assert await redis.zscore("leaderboard", str(account.id)) is None
    assert await redis.exists(f"user:{account.id}:score") == 0
    assert (
        await client.post("/api/auth/login", json={"login": account.username, "password": account.password})
    ).status_code == 401
    assert (await client.get(f"/api/users/{account.id}")).status_code == 404


async def test_reactivated_user_returns_to_the_board(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """An admin's deactivation removes the user from the board; reactivation puts their score back."""
    boss = await admin(client, db)
    account = await player(client)
    await db.execute("UPDATE users SET current_score = 70 WHERE id = $1", account.id)
    await redis.zadd("leaderboard", {str(account.id): 70})
    off = await client.post(f"/api/admin/users/{account.id}/deactivate", headers=boss.headers)
    assert (off.status_code, off.json()["isActive"]) == (200, False)
    assert await redis.zscore("leaderboard", str(account.id)) is None
    on = await client.post(f"/api/admin/users/{account.id}/reactivate", headers=boss.headers)
    assert (on.status_code, on.json()["isActive"]) == (200, True)
    assert await redis.zscore("leaderboard", str(account.id)) == 70
    unknown = await client.post(
        "/api/admin/users/00000000-0000-0000-0000-000000000000/deactivate", headers=boss.headers
    )
    assert unknown.status_code == 404


async def test_admin_creates_players_without_the_registration_throttle(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    boss = await admin(client, db)
    created = []
    for n in range(12):  # more than SCOREBOARD_REGISTER_MAX_PER_IP (10) from one address
        body = {"username": f"provisioned{n}", "email": f"p{n}@example.com", "password": "a long enough password"}
        response = await client.post("/api/admin/users", json=body, headers=boss.headers)
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert {c["role"] for c in created} == {"player"}
    assert await redis.zscore("leaderboard", created[0]["id"]) == 0
    taken = await client.post(
        "/api/admin/users",
        json={"username": "PROVISIONED0", "email": "other@example.com", "password": "a long enough password"},
        headers=boss.headers,
    )
    assert taken.status_code == 409
    assert taken.json()["field"] == "username"
    sneaky = await client.post(
        "/api/admin/users",
        json={"username": "sneaky", "email": "s@example.com", "password": "a long enough password", "role": "admin"},
        headers=boss.headers,
    )
    assert sneaky.status_code == 422
