"""Redis knows which PostgreSQL state it mirrors: after a restore, a reset or a restart it notices and rebuilds."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.leaderboard import keys, mirror, reconciler
from scoreboard.scores import repository as scores_repository
from tests.fixtures.accounts import Account, player
from tests.fixtures.apps import Running
from tests.fixtures.streams import serving, sse


async def _award(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _undo_last_award(db: asyncpg.Connection, user_id: UUID) -> None:
    """What restoring a backup taken before the user's last award does to PostgreSQL (the generation stays)."""
    last = await db.fetchrow(
        "SELECT id, balance_before FROM score_history WHERE user_id = $1 ORDER BY id DESC LIMIT 1", user_id
    )
    assert last is not None
    await db.execute("DELETE FROM score_history WHERE id = $1", last["id"])
    await db.execute("UPDATE users SET current_score = $2 WHERE id = $1", user_id, last["balance_before"])
    await db.execute("SELECT setval('score_history_id_seq', $1, false)", last["id"])  # pg_restore rewinds it too


async def _pass(app: Running) -> None:
    """One reconciler pass, as the app's own runs it."""
    await reconciler.Reconciler(app.state["pool"], app.state["background_redis"])()


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    response = await client.get("/readyz")
    body = response.json()
    return response.status_code, body.get("checks", {})


async def test_a_database_restored_to_before_an_award_is_noticed_and_the_board_rebuilt(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    alice = await player(client)
    await _award(client, alice)
    await _award(client, alice)
    assert await redis.zscore(keys.BOARD, str(alice.id)) == 20
    await _pass(app)  # a pass with nothing to fix leaves the board as it is
    assert await redis.get(keys.score_cache(alice.id)) == "20"

    await _undo_last_award(db, alice.id)
    async with app.state["pool"].acquire() as conn:
        why = await mirror.mismatch(conn, app.state["background_redis"])
    assert why is not None
    assert "PostgreSQL does not have" in why
    status, checks = await _ready(client)
    assert status == 503
    assert checks["board"].startswith("out of date")

    await _pass(app)
    assert await redis.zscore(keys.BOARD, str(alice.id)) == 10
    assert await redis.get(keys.score_cache(alice.id)) is None  # cleared: it refills from PostgreSQL
    assert (await client.get(f"/api/users/{alice.id}/score")).json()["score"] == 10
    assert await _ready(client) == (200, {"postgres": "ok", "redis": "ok", "board": "ok"})
    # Awards after the rebuild rank on the rebuilt board and keep the mirror current.
    assert (await _award(client, alice))["newScore"] == 20
    await _pass(app)
    assert await redis.zscore(keys.BOARD, str(alice.id)) == 20


async def test_a_new_generation_rebuilds_and_reads_use_postgresql_meanwhile(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    alice = await player(client)
    await _award(client, alice)
    await db.execute("UPDATE users SET current_score = 500 WHERE id = $1", alice.id)  # as a reset or restore leaves it
    await db.execute("UPDATE board_generation SET generation = gen_random_uuid()")
    # What the reconciler does first: reads go to PostgreSQL while the rebuild runs.
    await redis.delete(keys.BUILT)
    page = await client.get("/api/leaderboard")
    assert page.headers["x-scoreboard-source"] == "postgres"
    assert page.json()["entries"][0]["score"] == 500
    status, checks = await _ready(client)
    assert status == 200
    assert checks["board"].startswith("rebuilding")
    # An award meanwhile answers a rank from PostgreSQL and is counted once the board is back.
    assert (await _award(client, alice))["rank"] == 1
    await _pass(app)
    assert await redis.zscore(keys.BOARD, str(alice.id)) == 510
    page = await client.get("/api/leaderboard")
    assert (page.headers["x-scoreboard-source"], page.json()["entries"][0]["score"]) == ("redis", 510)


async def test_a_board_built_in_another_redis_process_is_rebuilt(
    app: Running, client: httpx.AsyncClient, redis: Redis
) -> None:
    """After a restart Redis may hold an older snapshot: scores that went back are put right."""
    alice = await player(client)
    await _award(client, alice)
    await _award(client, alice)
    await redis.zadd(keys.BOARD, {str(alice.id): 10})  # what an older snapshot would hold
    await redis.hset(keys.MIRROR, "run_id", "an-earlier-redis-process")
    await _pass(app)
    assert await redis.zscore(keys.BOARD, str(alice.id)) == 20
    assert await redis.hget(keys.MIRROR, "run_id") == (await redis.info("server"))["run_id"]


async def test_a_rebuild_sends_live_clients_a_fresh_snapshot(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    alice = await player(client)
    await _award(client, alice)
    async with serving(app) as base, sse(base) as stream:
        assert (await stream.until("snapshot")).data["leaderboard"][0]["score"] == 10
        await db.execute("UPDATE users SET current_score = 70 WHERE id = $1", alice.id)
        assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
        assert (await stream.until("snapshot")).data["leaderboard"][0]["score"] == 70


async def test_a_replay_never_answers_with_another_awards_body(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """After a restore, a reused Idempotency-Key awards anew; its replays answer that award, not the old one."""
    alice = await player(client)
    headers = {**alice.headers, "Idempotency-Key": "k-1"}
    first = (await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=headers)).json()
    await _undo_last_award(db, alice.id)  # the award and its key are gone from PostgreSQL; the cached body is not
    again = {"actionId": "achievement-unlock"}
    second = await client.post("/api/scores", json=again, headers=headers)
    assert (second.status_code, second.json()["newScore"]) == (201, 25)  # a real, new award
    assert second.json()["historyId"] == first["historyId"]  # the restored sequence reused the id
    replay = await client.post("/api/scores", json=again, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == second.json()


async def test_score_caches_are_checked_and_repaired(app: Running, client: httpx.AsyncClient, redis: Redis) -> None:
    alice, bob = await player(client), await player(client)
    await _award(client, alice)
    await redis.set(keys.score_cache(alice.id), 999, ex=3600)  # wrong
    await redis.set(keys.score_cache(bob.id), 0, ex=3600)  # right
    await redis.set(keys.score_cache("00000000-0000-0000-0000-000000000000"), 5, ex=3600)  # no such user
    pool, background = app.state["pool"], app.state["background_redis"]
    drift = await reconciler.check(pool, background)
    assert drift.caches == sorted([str(alice.id), "00000000-0000-0000-0000-000000000000"])
    await reconciler.check(pool, background, repair=True)
    assert await redis.get(keys.score_cache(alice.id)) == "10"
    assert await redis.ttl(keys.score_cache(alice.id)) > 3000  # the TTL stays
    assert await redis.get(keys.score_cache("00000000-0000-0000-0000-000000000000")) is None
    assert not (await reconciler.check(pool, background)).found


async def test_a_connection_lost_mid_award_is_a_503_and_gives_the_rate_limit_slot_back(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, redis: Redis
) -> None:
    """PostgreSQL crashing under an award breaks asyncpg's protocol (InternalClientError): nothing was awarded."""
    import asyncpg.exceptions._base as asyncpg_base

    alice = await player(client)

    async def crash(*args: object, **kwargs: object) -> None:
        raise asyncpg_base.InternalClientError("cannot switch to state 12; another operation is in progress")

    monkeypatch.setattr(scores_repository, "award", crash)
    response = await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert await redis.get(f"rate_limit:{alice.id}:/api/scores") is None  # the slot was given back


async def test_players_get_retry_after_when_the_rate_limiter_is_away(
    client: httpx.AsyncClient, app: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    alice = await player(client)

    async def away(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(app.state["limiter"], "check", away)
    response = await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    await asyncio.sleep(0)


async def test_after_a_rebuild_an_award_moves_the_player_and_leaves_no_second_entry(
    app: Running, client: httpx.AsyncClient, redis: Redis
) -> None:
    """The bulk load writes RANKED members in Python (keys.ranked); the award's Lua must find and replace them."""
    alice, bob = await player(client), await player(client)
    await _award(client, alice)
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    await _award(client, bob)
    await _award(client, bob)
    members = await redis.zrange(keys.RANKED, 0, -1)
    assert sorted(m.split(":", 1)[1] for m in members) == sorted([str(alice.id), str(bob.id)])
    response = await client.get("/api/leaderboard")
    page = response.json()["entries"]
    assert [(e["userId"], e["score"], e["rank"]) for e in page] == [(str(bob.id), 20, 1), (str(alice.id), 10, 2)]
