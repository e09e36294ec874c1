"""Redis heals from PostgreSQL: rebuilds after data loss, a reconciler for missed writes, drift repair."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.leaderboard import reconciler
from tests.fixtures.accounts import player
from tests.fixtures.apps import Running, running
from tests.fixtures.polling import eventually


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[Running, httpx.AsyncClient]]:
    """An app whose reconciler runs every 0.2 s."""
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 0.2})) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield app, http


async def bulk_users(db: asyncpg.Connection, first: int, count: int) -> None:
    """Insert `count` active users with varied scores straight into PostgreSQL."""
    await db.execute(
        """
        INSERT INTO users (username, email, password_hash, current_score, last_activity_at)
        SELECT 'bulk' || n, 'bulk' || n || '@example.com', 'x', (n * 7919) % 1000, now()
        FROM generate_series($1::int, $2::int) n
        """,
        first,
        first + count - 1,
    )


async def test_board_is_rebuilt_after_redis_loses_everything(
    live: tuple[Running, httpx.AsyncClient], db: asyncpg.Connection, redis: Redis
) -> None:
    """After FLUSHALL the reconciler rebuilds the board, equal to PostgreSQL."""
    app, http = live
    for _ in range(3):
        account = await player(http)
        await http.post("/api/scores", headers=account.headers, json={"actionId": "complete-quest"})
    await redis.flushdb()
    await eventually(lambda: redis.exists("leaderboard:built"))
    drift = await reconciler.check(app.state["pool"], app.state["background_redis"])
    assert not drift.found
    assert await redis.zcard("leaderboard") == 3
    assert {score for _, score in await redis.zrange("leaderboard", 0, -1, withscores=True)} == {10}


async def test_reconciler_applies_a_missed_award(
    live: tuple[Running, httpx.AsyncClient], db: asyncpg.Connection, redis: Redis
) -> None:
    """A change committed in PostgreSQL whose Redis write never happened appears within seconds."""
    _, http = live
    account = await player(http)
    await db.execute("UPDATE users SET current_score = 77, last_activity_at = now() WHERE id = $1", account.id)

    async def on_board() -> bool:
        return await redis.zscore("leaderboard", str(account.id)) == 77

    await eventually(on_board)
    page = (await http.get("/api/leaderboard")).json()
    assert page["entries"][0]["userId"] == str(account.id)


async def test_drift_is_found_and_repaired(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """Missing, changed and stray members are reported, then repaired to PostgreSQL's values."""
    a, b, c = await player(client), await player(client), await player(client)
    await client.post("/api/scores", headers=b.headers, json={"actionId": "complete-quest"})
    pool, board_redis = app.state["pool"], app.state["background_redis"]
    assert not (await reconciler.check(pool, board_redis)).found
    await redis.zrem("leaderboard", str(a.id))
    await redis.zadd("leaderboard", {str(b.id): 999})
    await redis.zadd("leaderboard", {"not-a-user": 5, "00000000-0000-0000-0000-000000000001": 6})
    await redis.hset("leaderboard:usernames", str(c.id), "impostor")
    drift = await reconciler.check(pool, board_redis)
    assert drift.missing == [a.id]
    assert set(drift.different) == {b.id, c.id}
    assert drift.extra == ["00000000-0000-0000-0000-000000000001", "not-a-user"]
    await reconciler.check(pool, board_redis, repair=True)
    assert not (await reconciler.check(pool, board_redis)).found
    assert await redis.zscore("leaderboard", str(b.id)) == 10
    assert await redis.hget("leaderboard:usernames", str(c.id)) == c.username


async def test_rebuild_swaps_atomically_and_is_locked(settings: Settings, db: asyncpg.Connection, redis: Redis) -> None:
    """Readers see the old board or the new one, never a part; a second rebuild at the same time does nothing."""
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 3600})) as app:
        pool, client = app.state["pool"], app.state["background_redis"]
        await bulk_users(db, 1, 3000)
        assert await reconciler.rebuild(pool, client) == 3000
        await bulk_users(db, 3001, 2000)
        seen: set[int] = set()
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                seen.add(await redis.zcard("leaderboard"))
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        first, second = await asyncio.gather(reconciler.rebuild(pool, client), reconciler.rebuild(pool, client))
        done.set()
        await watcher
    assert sorted([first or 0, second or 0]) == [0, 5000]
    assert None in (first, second)
    assert seen <= {3000, 5000}
    assert await redis.zcard("leaderboard") == 5000
    assert await redis.keys("*:rebuild:*") == []


async def test_reconciler_does_not_reapply_old_changes_forever(
    settings: Settings, db: asyncpg.Connection, redis: Redis
) -> None:
    """A change is re-applied only within the look-back after it; later passes leave the board alone."""
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 3600})) as app:
        await eventually(lambda: redis.exists("leaderboard:built"))  # the app's own first pass is over
        user_id = await db.fetchval(
            """
            INSERT INTO users (username, email, password_hash, current_score, updated_at)
            VALUES ('old', 'old@example.com', 'x', 50, now() - interval '30 seconds') RETURNING id
            """
        )
        reconciling = reconciler.Reconciler(app.state["pool"], app.state["background_redis"])
        await reconciling()  # a first pass looks back a minute: it applies the change
        assert await redis.zscore("leaderboard", str(user_id)) == 50
        first_pass = reconciling.last_pass
        await redis.zadd("leaderboard", {str(user_id): 1})  # drift that a raise-only re-apply would undo
        await reconciling()
        # Not re-applied: the change is older than this pass's look-back.
        assert await redis.zscore("leaderboard", str(user_id)) == 1
        assert first_pass is not None
        assert reconciling.last_pass is not None
        assert reconciling.last_pass >= first_pass


async def _new_user(db: asyncpg.Connection, name: str, score: int) -> str:
    user_id = await db.fetchval(
        "INSERT INTO users (username, email, password_hash, current_score)"
        " VALUES ($1::text, $1::text || '@example.com', 'x', $2) RETURNING id",
        name,
        score,
    )
    return str(user_id)


async def test_only_the_lease_holder_reconciles(settings: Settings, db: asyncpg.Connection, redis: Redis) -> None:
    """Of two processes' reconcilers one re-applies changes; the other skips its passes until the lease is free."""
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 3600})) as app:
        await eventually(lambda: redis.exists("leaderboard:built"))
        await redis.delete("leaderboard:reconciler")  # held by the app's own reconciler since its first pass
        first = reconciler.Reconciler(app.state["pool"], app.state["background_redis"], lease_seconds=30)
        second = reconciler.Reconciler(app.state["pool"], app.state["background_redis"], lease_seconds=30)
        early = await _new_user(db, "early", 40)
        await first()
        assert await redis.zscore("leaderboard", early) == 40
        late = await _new_user(db, "late", 60)
        await second()
        assert await redis.zscore("leaderboard", late) is None  # not the holder: nothing applied
        assert second.last_pass is None
        await first.release()
        await second()
        assert await redis.zscore("leaderboard", late) == 60
        assert await redis.get("leaderboard:reconciler") == second.token
        assert 25_000 < await redis.pttl("leaderboard:reconciler") <= 30_000


async def test_the_lease_is_released_at_shutdown(settings: Settings, redis: Redis) -> None:
    async with running(settings.model_copy(update={"reconcile_interval_seconds": 3600})):
        await eventually(lambda: redis.exists("leaderboard:reconciler"))
        assert await redis.pttl("leaderboard:reconciler") > 10_000_000  # three intervals
    assert not await redis.exists("leaderboard:reconciler")
