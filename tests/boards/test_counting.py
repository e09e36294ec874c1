"""Exactly once on every board: races, backfill == live counting, Redis loss, drift, the totals check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from redis.asyncio import Redis

from scoreboard.boards import repository
from scoreboard.integrity import service as integrity
from scoreboard.leaderboard import reconciler
from scoreboard.leaderboard import repository as board_sql
from scoreboard.leaderboard.repository import POINTS
from tests.fixtures.accounts import admin, player
from tests.fixtures.apps import Running
from tests.fixtures.boards import add_board, entries
from tests.fixtures.factories import award as history_award
from tests.fixtures.polling import eventually


async def trusted_server(client: httpx.AsyncClient, boss_headers: dict[str, str]) -> dict[str, str]:
    """Headers of an API key with scores:write (no per-player rate limit in the way of a race)."""
    created = await client.post(
        "/api/admin/api-keys", headers=boss_headers, json={"name": "game", "scopes": ["scores:write"]}
    )
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def standings(db: asyncpg.Connection) -> dict[str, int]:
    """Each board's total in PostgreSQL."""
    rows = await db.fetch("SELECT board_id, sum(score) AS total FROM board_scores GROUP BY board_id")
    return {r["board_id"]: r["total"] for r in rows}


async def test_fifty_concurrent_awards_to_one_player_count_exactly_once_on_four_boards(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """50 requests, 25 idempotency keys each sent twice: 25 awards on global, daily, weekly and monthly alike."""
    boss = await admin(client, db)
    boards = {
        b: await add_board(client, boss, b, p) for b, p in (("day", "daily"), ("week", "weekly"), ("month", "monthly"))
    }
    target = await player(client)
    server = await trusted_server(client, boss.headers)

    async def send(n: int) -> int:
        response = await client.post(
            "/api/scores",
            headers={**server, "Idempotency-Key": f"race-{n % 25}"},
            json={"actionId": "complete-quest", "userId": str(target.id)},
        )
        return response.status_code

    statuses = await asyncio.gather(*(send(n) for n in range(50)))
    assert set(statuses) <= {200, 201}
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", target.id) == 250
    assert await standings(db) == {"day": 250, "week": 250, "month": 250}
    for board_id, board in boards.items():
        assert await redis.zscore(f"board:{{{board_id}:{board['currentPeriod']}}}", str(target.id)) == 250
        page = await entries(client, board_id)
        assert [(e["userId"], e["score"]) for e in page["entries"]] == [(str(target.id), 250)]
    assert await redis.zscore("leaderboard", str(target.id)) == 250


async def test_a_backfill_equals_live_counting(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """A board created after the awards and backfilled holds what a twin that counted them live holds."""
    boss = await admin(client, db)
    await add_board(client, boss, "live", "daily", timeZone="Asia/Tokyo", actions=["complete-quest", "daily-login"])
    players = [await player(client) for _ in range(4)]
    for n, account in enumerate(players):
        for action in ("complete-quest", "achievement-unlock", "daily-login")[: n + 1]:
            response = await client.post("/api/scores", headers=account.headers, json={"actionId": action})
            assert response.status_code == 201, response.text
    await add_board(client, boss, "later", "daily", timeZone="Asia/Tokyo", actions=["complete-quest", "daily-login"])
    assert (await entries(client, "later"))["totalPlayers"] == 0
    response = await client.post("/api/admin/boards/later/backfill", headers=boss.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"boardId": "later", "standings": 4}

    def rows(board: str) -> str:
        return f"SELECT period, user_id, score, reached_at FROM board_scores WHERE board_id = '{board}' ORDER BY 2"

    assert [dict(r) for r in await db.fetch(rows("later"))] == [dict(r) for r in await db.fetch(rows("live"))]
    live, later = await entries(client, "live"), await entries(client, "later")
    assert later["entries"] == live["entries"]  # Redis reloaded: the same order, ties included
    assert later["totalPlayers"] == 4


async def test_a_backfill_puts_past_awards_in_their_periods(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """History from last month and yesterday lands in those periods: the archives answer with final ranks."""
    boss = await admin(client, db)
    await add_board(client, boss, "day", "daily")
    alice, bob = await player(client), await player(client)
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    edge = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC) + timedelta(days=1, milliseconds=-1)
    await history_award(db, alice.id, "achievement-unlock", at=yesterday.replace(hour=1))
    await history_award(db, bob.id, "complete-quest", at=yesterday.replace(hour=2))
    await history_award(db, bob.id, "complete-quest", at=edge)  # 23:59:59.999 counts in yesterday
    await history_award(db, bob.id, "complete-quest", at=edge + timedelta(milliseconds=1))  # today's first instant
    result = await client.post("/api/admin/boards/day/backfill", headers=boss.headers)
    assert result.status_code == 200, result.text
    previous = await entries(client, "day", period="previous")
    assert previous["period"] == yesterday.strftime("%Y-%m-%d")
    assert [(e["username"], e["score"], e["rank"]) for e in previous["entries"]] == [
        (alice.username, 25, 1),
        (bob.username, 20, 2),
    ]
    today = await entries(client, "day")
    assert [(e["username"], e["score"]) for e in today["entries"]] == [(bob.username, 10)]


async def test_redis_loss_rebuilds_every_current_period(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """FLUSHALL: the rebuild brings back each board's current period exactly, with its expiry, and no strays."""
    boss = await admin(client, db)
    day = await add_board(client, boss, "day", "daily")
    await add_board(client, boss, "ever", "all_time", actions=["achievement-unlock"])
    alice, bob = await player(client), await player(client)
    for account, action in ((alice, "complete-quest"), (bob, "achievement-unlock"), (alice, "achievement-unlock")):
        assert (await client.post("/api/scores", headers=account.headers, json={"actionId": action})).status_code == 201
    before = {b: await entries(client, b) for b in ("day", "ever")}
    await redis.flushall()
    await redis.set("board:{gone:2020-01-01}", "stray")
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    for board_id, page in before.items():
        after = await entries(client, board_id)
        assert after["entries"] == page["entries"]
    day_key = f"board:{{day:{day['currentPeriod']}}}"
    assert await redis.zscore(day_key, str(alice.id)) == 35
    ends = datetime.fromisoformat(day["currentPeriodEndsAt"])
    assert abs(await redis.expiretime(day_key) - (ends.timestamp() + 86_400)) <= 1
    assert await redis.ttl("board:{ever:all}") == -1  # all time: never expires
    assert not await redis.exists("board:{gone:2020-01-01}")


async def test_drift_in_a_period_is_found_and_repaired(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """A wrong score, a missing and a stray member in a period's keys: `period-board` finds them; repair fixes them."""
    boss = await admin(client, db)
    day = await add_board(client, boss, "day", "daily")
    alice, bob = await player(client), await player(client)
    for account in (alice, bob):
        assert (
            await client.post("/api/scores", headers=account.headers, json={"actionId": "complete-quest"})
        ).status_code == 201
    key = f"board:{{day:{day['currentPeriod']}}}"
    await redis.zadd(key, {str(alice.id): 99, "stray": 1})
    await redis.zrem(key, str(bob.id))
    pool, background = app.state["pool"], app.state["background_redis"]
    report = await integrity.run(pool, background)
    (found,) = [c for c in report.checks if c.name == "period-board"]
    assert found.count == 3
    assert found.sample == [
        {"boardId": "day", "period": day["currentPeriod"], "missing": 1, "extra": 1, "different": 1}
    ]
    await integrity.run(pool, background, repair=True)
    assert {m: s for m, s in await redis.zrange(key, 0, -1, withscores=True)} == {str(alice.id): 10, str(bob.id): 10}
    assert not (await reconciler.check(pool, background)).found


async def test_the_totals_check_finds_standings_that_do_not_add_up_to_their_awards(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Standings changed by hand show as `period-total`; a backfill recounts them and the check is clean again."""
    boss = await admin(client, db)
    await add_board(client, boss, "day", "daily")
    someone = await player(client)
    assert (
        await client.post("/api/scores", headers=someone.headers, json={"actionId": "complete-quest"})
    ).status_code == 201
    async with app.state["pool"].acquire() as conn:
        assert await repository.unequal_totals(conn) == []
    await db.execute("UPDATE board_scores SET score = score + 5")
    report = await integrity.run(app.state["pool"], app.state["background_redis"])
    (found,) = [c for c in report.checks if c.name == "period-total"]
    assert found.count == 1
    assert (found.sample[0]["stored"], found.sample[0]["expected"]) == (15, 10)
    assert (await client.post("/api/admin/boards/day/backfill", headers=boss.headers)).status_code == 200
    async with app.state["pool"].acquire() as conn:
        assert await repository.unequal_totals(conn) == []


async def test_a_deactivated_player_leaves_every_period_board(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Only active players are ranked: PostgreSQL reads at once, Redis once the reconciler has passed."""
    boss = await admin(client, db)
    await add_board(client, boss, "day", "daily")
    gone, stays = await player(client), await player(client)
    for account in (gone, stays):
        assert (
            await client.post("/api/scores", headers=account.headers, json={"actionId": "complete-quest"})
        ).status_code == 201
    response = await client.post(f"/api/admin/users/{gone.id}/deactivate", headers=boss.headers)
    assert response.status_code == 200, response.text
    async with app.state["pool"].acquire() as conn:
        assert [
            r["id"] for r in await board_sql.page(conn, 0, 10, POINTS, "day", (await entries(client, "day"))["period"])
        ] == [stays.id]
    await reconciler.reconcile_since(
        app.state["pool"], app.state["background_redis"], datetime.now(UTC) - timedelta(minutes=1)
    )

    async def gone_from_the_top() -> bool:  # each process's top in memory follows within a second (docs/boards.md)
        return [e["userId"] for e in (await entries(client, "day"))["entries"]] == [str(stays.id)]

    await eventually(gone_from_the_top, within=3)


async def test_archives_older_than_the_retention_are_removed_and_newer_ones_stay(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The reconciler's hourly sweep deletes finished periods past `board_archive_days`; current ones never."""
    boss = await admin(client, db)
    await add_board(client, boss, "day", "daily")
    someone = await player(client)
    assert (
        await client.post("/api/scores", headers=someone.headers, json={"actionId": "complete-quest"})
    ).status_code == 201
    now = datetime.now(UTC)
    for days in (400, 40, 10):
        at = now - timedelta(days=days)
        await db.execute(
            "INSERT INTO board_scores (board_id, period, user_id, score, reached_at) VALUES ('day', $1, $2, 5, $3)",
            at.strftime("%Y-%m-%d"),
            someone.id,
            at,
        )
    sweeper = reconciler.Reconciler(app.state["pool"], app.state["background_redis"], archive_days=30)
    assert await sweeper.tidy(now) == 2
    kept = await db.fetch("SELECT period FROM board_scores ORDER BY period")
    assert [r["period"] for r in kept] == [(now - timedelta(days=10)).strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d")]
