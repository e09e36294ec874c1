"""Integrity: scores against history and orphans (seed queries 14-15), the Redis board against PostgreSQL, repairs."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.integrity import service
from scoreboard.leaderboard import reconciler
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.apps import Running
from tests.fixtures.polling import eventually
from tests.fixtures.problems import assert_problem
from tests.fixtures.seed_queries import query

URL = "/api/admin/integrity"
CHECKS = [
    "score-mismatch",
    "score-without-history",
    "history-without-user",
    "history-without-action",
    "period-total",
    "result-standing",
    "board-mirror",
    "board-missing",
    "board-different",
    "board-inactive",
    "board-unknown",
    "score-cache",
    "period-board",
]
POSTGRES_CHECKS, REDIS_CHECKS = CHECKS[:6], CHECKS[6:]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No reconciler passes after the first: it would heal the drift these tests create on purpose."""
    return settings.model_copy(update={"reconcile_interval_seconds": 3600})


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis) -> Account:
    """A logged-in admin, once the reconciler's first pass has built the board."""
    await eventually(lambda: redis.exists("leaderboard:built"))
    return await admin(client, db)


async def players(client: httpx.AsyncClient, count: int) -> list[Account]:
    """Players with one award each, made through the API (so Redis is right)."""
    accounts = [await player(client) for _ in range(count)]
    for account in accounts:
        response = await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=account.headers)
        assert response.status_code == 201, response.text
    return accounts


async def report(client: httpx.AsyncClient, boss: Account, **params: Any) -> dict[str, Any]:
    """GET the integrity report."""
    response = await client.get(URL, params=params, headers=boss.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's checks by name."""
    return {c["name"]: c for c in body["checks"]}


async def test_a_consistent_system_is_ok(client: httpx.AsyncClient, boss: Account) -> None:
    """Every check runs, in a fixed order, and finds nothing."""
    await players(client, 3)
    body = await report(client, boss)
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]] == CHECKS
    assert all((c["count"], c["sample"], c["advice"], c["repaired"]) == (0, [], None, False) for c in body["checks"])
    assert [c["repairable"] for c in body["checks"]] == [False] * 6 + [True] * 7


async def bypass_foreign_keys(db: asyncpg.Connection, sql: str, *args: Any) -> None:
    """Write rows the foreign keys forbid, as a restore or a manual fix could."""
    await db.execute("SET session_replication_role = replica")
    try:
        await db.execute(sql, *args)
    finally:
        await db.execute("SET session_replication_role = DEFAULT")


async def test_every_kind_of_finding(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis, boss: Account
) -> None:
    """Tampered scores, lost history, orphans and a drifted board are each found, counted and sampled."""
    ann, bob, dave, erin, frank = await players(client, 5)
    # PostgreSQL: a score written around the award path; history lost; rows no foreign key would allow.
    await db.execute("UPDATE users SET current_score = current_score + 7 WHERE id = $1", ann.id)
    await db.execute("DELETE FROM score_history WHERE user_id = $1", bob.id)
    ghost = uuid4()
    await bypass_foreign_keys(
        db,
        """
        INSERT INTO score_history (user_id, action_id, points_awarded, balance_before, balance_after)
        VALUES ($1, 'complete-quest', 10, 0, 10), ($2, 'vanished-action', 5, 10, 15)
        """,
        ghost,
        dave.id,
    )
    await reconciler.check(
        app.state["pool"], app.state["background_redis"], repair=True
    )  # Redis now mirrors PostgreSQL exactly
    # Redis: a wrong score, a missing member, a deactivated user left behind, strays.
    await redis.zadd("leaderboard", {str(dave.id): 999})
    await redis.zrem("leaderboard", str(erin.id))
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", frank.id)
    stray = str(uuid4())
    await redis.zadd("leaderboard", {stray: 1, "not-a-user": 2})

    body = await report(client, boss)
    checks = by_name(body)
    assert body["ok"] is False
    assert {name: c["count"] for name, c in checks.items()} == {
        "score-mismatch": 2,
        "score-without-history": 1,
        "history-without-user": 1,
        "history-without-action": 1,
        "period-total": 0,  # no boards but the global one here (tests/boards cover periods)
        "result-standing": 0,  # and no result boards (tests/results cover them)
        "board-mirror": 0,
        "board-missing": 1,
        "board-different": 1,
        "board-inactive": 1,
        "board-unknown": 2,
        "score-cache": 1,  # frank's, kept after he was deactivated behind the service's back
        "period-board": 0,
    }
    # ann's score was raised by hand; dave's history has a row more than his score (the vanished action's).
    assert checks["score-mismatch"]["sample"] == [
        {"userId": str(ann.id), "username": ann.username, "currentScore": 17, "calculatedScore": 10, "discrepancy": 7},
        {
            "userId": str(dave.id),
            "username": dave.username,
            "currentScore": 10,
            "calculatedScore": 15,
            "discrepancy": -5,
        },
    ]
    assert checks["score-without-history"]["sample"] == [
        {"userId": str(bob.id), "username": bob.username, "currentScore": 10}
    ]
    (orphan,) = checks["history-without-user"]["sample"]
    assert (orphan["userId"], orphan["actionId"]) == (str(ghost), "complete-quest")
    assert checks["history-without-action"]["sample"][0]["actionId"] == "vanished-action"
    assert checks["board-missing"]["sample"] == [{"userId": str(erin.id), "username": erin.username}]
    assert checks["board-different"]["sample"] == [{"userId": str(dave.id), "username": dave.username}]
    assert checks["board-inactive"]["sample"] == [{"userId": str(frank.id), "username": frank.username}]
    assert sorted(s["member"] for s in checks["board-unknown"]["sample"]) == sorted([stray, "not-a-user"])
    assert checks["score-cache"]["sample"] == [{"userId": str(frank.id)}]
    assert all(c["advice"] for c in body["checks"] if c["count"])
    # The same discrepancies as the seed's query 14, verbatim.
    seed = {(r["id"], r["discrepancy"]) for r in await db.fetch(query(14)[0])}
    assert seed == {(UUID(s["userId"]), s["discrepancy"]) for s in checks["score-mismatch"]["sample"]}

    # A repair fixes Redis only; PostgreSQL's findings stay for a human.
    repaired = await service.run(app.state["pool"], app.state["background_redis"], repair=True)
    assert not repaired.ok
    assert [c.name for c in repaired.needs_human] == [
        n for n in POSTGRES_CHECKS if n not in ("period-total", "result-standing")
    ]
    assert [c.name for c in repaired.checks if c.repaired] == [
        n for n in REDIS_CHECKS if n not in ("board-mirror", "period-board")
    ]
    after = by_name(await report(client, boss))
    assert [after[name]["count"] for name in REDIS_CHECKS] == [0] * len(REDIS_CHECKS)
    assert await redis.zscore("leaderboard", str(dave.id)) == 10
    assert await redis.zscore("leaderboard", str(frank.id)) is None


async def test_sample_size_bounds_the_lists_not_the_counts(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """`sample` limits the listed problems; the counts are always complete."""
    accounts = await players(client, 4)
    await db.execute(
        "UPDATE users SET current_score = current_score + 1 WHERE id = ANY($1::uuid[])", [a.id for a in accounts]
    )
    for sample, listed in ((0, 0), (2, 2), (1000, 4)):
        mismatch = by_name(await report(client, boss, sample=sample))["score-mismatch"]
        assert (mismatch["count"], len(mismatch["sample"])) == (4, listed)


@pytest.mark.parametrize("sample", [-1, 1001, "all"])
async def test_bad_sample_sizes_are_422(client: httpx.AsyncClient, boss: Account, sample: Any) -> None:
    """`sample` is 0..1000."""
    assert_problem(await client.get(URL, params={"sample": sample}, headers=boss.headers), 422)


async def test_only_admins(client: httpx.AsyncClient) -> None:
    """Players get 403, anonymous callers 401."""
    me = await player(client)
    assert_problem(await client.get(URL, headers=me.headers), 403)
    assert_problem(await client.get(URL), 401)
