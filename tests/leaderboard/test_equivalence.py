"""Property: every board read from Redis equals the PostgreSQL fallback and a reference computed in Python."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.leaderboard import reconciler
from tests.fixtures.apps import Running, running

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Few distinct scores and reach times, so ties (and exact ties to the millisecond) are common.
player = st.tuples(st.sampled_from([0, 5, 10, 10, 25, 40]), st.integers(0, 4), st.booleans(), st.booleans())
boards = st.lists(player, min_size=1, max_size=25)


class Client:
    """An app plus an HTTP client for it."""

    def __init__(self, app: Running, http: httpx.AsyncClient) -> None:
        self.app, self.http = app, http


async def _start(config: Settings) -> AsyncIterator[Client]:
    async with running(config) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield Client(app, http)


@pytest.fixture
async def fast(settings: Settings) -> AsyncIterator[Client]:
    """The normal app (Redis fast path); its reconciler stays out of the way."""
    async for c in _start(settings.model_copy(update={"reconcile_interval_seconds": 3600})):
        yield c


@pytest.fixture
async def slow(settings: Settings) -> AsyncIterator[Client]:
    """An app whose Redis is unreachable (PostgreSQL fallback)."""
    no_redis = {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "reconcile_interval_seconds": 3600}
    async for c in _start(settings.model_copy(update=no_redis)):
        yield c


def reference(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Board order and competition ranks, straight from DESIGN.md "Ranks"."""
    active = [u for u in users if u["active"]]
    ordered = sorted(active, key=lambda u: str(u["id"]), reverse=True)  # exact ties: id, reverse text order
    ordered.sort(key=lambda u: (-u["score"], u["reached_ms"]))  # stable: keeps the id order within ties
    return [
        {
            "rank": 1 + sum(o["score"] > u["score"] for o in active),
            "userId": str(u["id"]),
            "username": u["name"],
            "score": u["score"],
        }
        for u in ordered
    ]


async def load(
    db: asyncpg.Connection, redis: Redis, app: Running, spec: list[tuple[int, int, bool, bool]]
) -> list[dict[str, Any]]:
    """Replace all users with `spec` in PostgreSQL and rebuild Redis from it."""
    await db.execute("TRUNCATE users CASCADE")
    users = []
    for i, (score, tick, active, awarded) in enumerate(spec):
        at = T0 + timedelta(milliseconds=tick * 7)
        user = {"id": uuid4(), "name": f"p{i}", "score": score, "active": active}
        await db.execute(
            """
            INSERT INTO users
              (id, username, email, password_hash, current_score, is_active, created_at, last_activity_at)
            VALUES ($1, $2, $3, 'x', $4, $5, $6, $7)
            """,
            user["id"],
            user["name"],
            f"p{i}@example.com",
            score,
            active,
            at if not awarded else T0 - timedelta(days=1),
            at if awarded else None,
        )
        user["reached_ms"] = tick * 7
        users.append(user)
    await redis.flushdb()
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    return users


async def both(fast: Client, slow: Client, method: str, url: str, **kwargs: Any) -> tuple[Any, Any]:
    """The same request to the Redis app and the PostgreSQL app; both must agree on status."""
    a = await fast.http.request(method, url, **kwargs)
    b = await slow.http.request(method, url, **kwargs)
    assert (a.status_code, a.headers.get("x-scoreboard-source")) == (
        b.status_code,
        "redis" if a.is_success else None,
    ) or a.status_code == b.status_code
    if a.is_success:
        assert (a.headers["x-scoreboard-source"], b.headers["x-scoreboard-source"]) == ("redis", "postgres")
    strip = lambda body: {k: v for k, v in body.items() if k != "generatedAt"} if isinstance(body, dict) else body  # noqa: E731
    return strip(a.json()), strip(b.json())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=boards, offset=st.integers(0, 6), limit=st.integers(1, 8), radius=st.integers(0, 3))
async def test_redis_equals_postgres_equals_reference(
    fast: Client,
    slow: Client,
    db: asyncpg.Connection,
    redis: Redis,
    spec: list[tuple[int, int, bool, bool]],
    offset: int,
    limit: int,
    radius: int,
) -> None:
    """Pages, ranks, neighbours, friend lists and score ranges agree exactly, ties and all."""
    users = await load(db, redis, fast.app, spec)
    expected = reference(users)
    total = len(expected)

    redis_page, sql_page = await both(fast, slow, "GET", f"/api/leaderboard?limit={limit}&offset={offset}")
    assert redis_page == sql_page == {"entries": expected[offset : offset + limit], "totalPlayers": total}

    for user in users:
        got, fallback = await both(fast, slow, "GET", f"/api/users/{user['id']}/rank")
        assert got == fallback
        if user["active"]:
            mine = next(e for e in expected if e["userId"] == str(user["id"]))
            assert (got["rank"], got["score"], got["totalPlayers"]) == (mine["rank"], mine["score"], total)
            position = expected.index(mine)
            near, near_sql = await both(fast, slow, "GET", f"/api/leaderboard/around/{user['id']}?radius={radius}")
            window = expected[max(position - radius, 0) : position + radius + 1]
            assert near == near_sql == {"entries": window, "totalPlayers": total}
        else:
            assert got["status"] == 404

    friends = [u["id"] for u in users[::2]] + [UUID(int=1)]
    ranked, ranked_sql = await both(
        fast, slow, "POST", "/api/leaderboard/ranks", json={"userIds": [str(f) for f in friends]}
    )
    wanted = {str(f) for f in friends}
    assert ranked == ranked_sql
    assert ranked["entries"] == [e for e in expected if e["userId"] in wanted]

    band, band_sql = await both(fast, slow, "GET", "/api/leaderboard/range?min=5&max=25&limit=100")
    assert band == band_sql == {"entries": [e for e in expected if 5 <= e["score"] <= 25], "totalPlayers": total}


async def load_period(
    db: asyncpg.Connection, redis: Redis, app: Running, spec: list[tuple[int, int, bool, bool]]
) -> tuple[str, list[dict[str, Any]]]:
    """Replace all users with `spec`, those `awarded` standing on today's period of a daily board; rebuild Redis."""
    await db.execute("TRUNCATE users CASCADE")
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('day', 'Day', 'daily') ON CONFLICT DO NOTHING")
    key = datetime.now(UTC).strftime("%Y-%m-%d")
    users = []
    for i, (score, tick, active, awarded) in enumerate(spec):
        user = {"id": uuid4(), "name": f"p{i}", "score": score, "active": active, "reached_ms": tick * 7}
        await db.execute(
            "INSERT INTO users (id, username, email, password_hash, is_active) VALUES ($1, $2, $3, 'x', $4)",
            user["id"],
            user["name"],
            f"p{i}@example.com",
            active,
        )
        if awarded:
            await db.execute(
                """
                INSERT INTO board_scores (board_id, period, user_id, score, reached_at)
                VALUES ('day', $1, $2, $3, $4)
                """,
                key,
                user["id"],
                score,
                T0 + timedelta(milliseconds=tick * 7),
            )
            users.append(user)
    await redis.flushdb()
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    return key, users


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=boards, limit=st.integers(1, 8), radius=st.integers(0, 3))
async def test_a_period_board_from_redis_equals_postgres_equals_reference(
    fast: Client,
    slow: Client,
    db: asyncpg.Connection,
    redis: Redis,
    spec: list[tuple[int, int, bool, bool]],
    limit: int,
    radius: int,
) -> None:
    """A daily board's pages (cursor by cursor), ranks, neighbours and friend lists agree exactly, ties and all."""
    key, users = await load_period(db, redis, fast.app, spec)
    expected = reference(users)
    total = len(expected)
    head = {"boardId": "day", "period": key, "totalPlayers": total}

    seen, cursor = [], None
    while True:
        query = f"/api/boards/day/entries?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page, page_sql = await both(fast, slow, "GET", query)
        assert page == page_sql
        assert {k: page[k] for k in head} == head
        seen += page["entries"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == expected

    for user in users:
        near, near_sql = await both(fast, slow, "GET", f"/api/boards/day/around/{user['id']}?radius={radius}")
        assert near == near_sql
        if user["active"]:
            position = next(i for i, e in enumerate(expected) if e["userId"] == str(user["id"]))
            assert near["entries"] == expected[max(position - radius, 0) : position + radius + 1]
        else:
            assert near["status"] == 404

    friends = [u["id"] for u in users[::2]] + [UUID(int=1)]
    ranked, ranked_sql = await both(
        fast, slow, "POST", "/api/boards/day/ranks", json={"userIds": [str(f) for f in friends]}
    )
    assert ranked == ranked_sql
    assert ranked["entries"] == [e for e in expected if e["userId"] in {str(f) for f in friends}]
