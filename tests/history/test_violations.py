"""Rate-limit violations for admins: filters, keyset paging, bounds, and a real refusal end to end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.apps import Running
from tests.fixtures.factories import violation
from tests.fixtures.history import BAD_CURSORS, keys, walk
from tests.fixtures.problems import assert_problem

URL = "/api/admin/rate-limit-violations"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """A logged-in admin."""
    return await admin(client, db)


async def test_lists_violations_newest_first_with_filters(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """Each row says who, where, how many attempts, from which address and when; userId and since filter."""
    a, b = await player(client), await player(client)
    first = await violation(db, a.id, attempt_count=11, at=T0, ip="203.0.113.7")
    second = await violation(db, b.id, attempt_count=12, at=T0 + timedelta(minutes=1), ip="2001:db8::1")
    third = await violation(db, a.id, attempt_count=13, at=T0 + timedelta(minutes=2))
    await violation(db, a.id, limit_exceeded=False, at=T0 + timedelta(minutes=3))  # an attempt, not a violation
    page = (await client.get(URL, headers=boss.headers)).json()
    assert [i["id"] for i in page["items"]] == [third, second, first]
    assert page["items"][2] == {
        "id": first,
        "userId": str(a.id),
        "username": a.username,
        "endpoint": "/api/scores",
        "attemptCount": 11,
        "limitExceeded": True,
        "ipAddress": "203.0.113.7",
        "createdAt": page["items"][2]["createdAt"],
    }
    assert datetime.fromisoformat(page["items"][2]["createdAt"]) == T0
    assert page["items"][1]["ipAddress"] == "2001:db8::1"
    only_a = (await client.get(URL, params={"userId": str(a.id)}, headers=boss.headers)).json()
    assert [i["id"] for i in only_a["items"]] == [third, first]
    since = (T0 + timedelta(minutes=1)).isoformat()
    recent = (await client.get(URL, params={"since": since}, headers=boss.headers)).json()
    assert [i["id"] for i in recent["items"]] == [third, second]
    both = (await client.get(URL, params={"since": since, "userId": str(a.id)}, headers=boss.headers)).json()
    assert [i["id"] for i in both["items"]] == [third]
    nobody = (await client.get(URL, params={"userId": str(uuid4())}, headers=boss.headers)).json()
    assert (nobody["items"], nobody["nextCursor"]) == ([], None)


async def test_keyset_pages_cover_a_batch_with_one_timestamp(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """Audit rows are written in batches sharing one created_at: pages still split them without gaps."""
    a, b = await player(client), await player(client)
    ids = [await violation(db, a.id, at=T0 + timedelta(seconds=n // 6)) for n in range(20)]
    await violation(db, b.id, at=T0 + timedelta(seconds=1))
    await violation(db, a.id, at=T0 - timedelta(seconds=1))
    items = await walk(client, URL, boss.headers, limit=3)
    assert len(items) == 22
    assert keys(items) == sorted(keys(items), reverse=True)
    filtered = await walk(client, URL, boss.headers, 7, userId=str(a.id), since=T0.isoformat())
    assert [i["id"] for i in filtered] == ids[::-1]


async def test_pages_stay_exact_under_concurrent_inserts(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """Violations recorded while an admin pages never shift, repeat or hide the ones that were there."""
    a = await player(client)
    before = {await violation(db, a.id, at=T0 + timedelta(seconds=n // 4)) for n in range(40)}
    stop = asyncio.Event()

    async def record_meanwhile() -> int:
        recorded = 0
        while not stop.is_set():
            await violation(db, a.id)
            recorded += 1
            await asyncio.sleep(0)
        return recorded

    writer = asyncio.create_task(record_meanwhile())
    try:
        items = await walk(client, URL, boss.headers, limit=6, userId=str(a.id))
    finally:
        stop.set()
    assert await writer > 0
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids))
    assert before <= set(ids)
    assert keys(items) == sorted(keys(items), reverse=True)


async def test_a_real_refusal_is_listed(app: Running, client: httpx.AsyncClient, boss: Account) -> None:
    """Exceed the score rate limit through the API: the refusal shows up for admins."""
    me = await player(client)
    statuses = [
        (await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=me.headers)).status_code
        for _ in range(12)
    ]
    assert statuses.count(429) == 2
    await app.state["audit"].flush()
    page = (await client.get(URL, params={"userId": str(me.id)}, headers=boss.headers)).json()
    assert [(i["endpoint"], i["attemptCount"]) for i in page["items"]] == [("/api/scores", 12), ("/api/scores", 11)]


async def test_only_admins(client: httpx.AsyncClient) -> None:
    """Players get 403, anonymous callers 401."""
    me = await player(client)
    assert_problem(await client.get(URL, headers=me.headers), 403)
    assert_problem(await client.get(URL), 401)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"userId": "not-a-uuid"},
        {"since": "yesterday"},
        {"since": "2026-03-01T12:00:00"},  # no zone: ambiguous
        {"since": "2026-02-30T00:00:00Z"},
        {"since": "0001-01-01T00:00:00+05:00"},  # year 0 in UTC: PostgreSQL cannot hold it
        {"since": "9999-12-31T23:59:59-05:00"},
    ],
)
async def test_bad_parameters_are_422(client: httpx.AsyncClient, boss: Account, params: dict[str, Any]) -> None:
    """Every parameter is checked before any query runs."""
    assert_problem(await client.get(URL, params=params, headers=boss.headers), 422)


@pytest.mark.parametrize("bad", BAD_CURSORS)
async def test_bad_cursors_are_422(client: httpx.AsyncClient, boss: Account, bad: str) -> None:
    """A cursor we did not make is a 422, never a 500."""
    assert_problem(await client.get(URL, params={"cursor": bad}, headers=boss.headers), 422)
