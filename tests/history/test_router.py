"""Score history and statistics: numbers on known data, keyset paging, who may read what, parameter bounds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from scoreboard.history import cursor
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.factories import award
from tests.fixtures.history import BAD_CURSORS, keys, walk
from tests.fixtures.problems import assert_problem

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_history_is_newest_first_with_action_details(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Show action name, points, reason, balances and an ISO 8601 time, newest first (seed queries 5 and 8)."""
    me = await player(client)
    await award(db, me.id, "daily-login", at=T0)
    await award(db, me.id, "complete-quest", reason="dragon slain", at=T0 + timedelta(hours=1))
    await award(db, me.id, "purchase-item", at=T0 + timedelta(hours=2))
    response = await client.get("/api/users/me/history", headers=me.headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["limit"], page["nextCursor"]) == (50, None)
    first = page["items"][0]
    assert set(first) == {
        "id",
        "actionId",
        "actionName",
        "pointsAwarded",
        "reason",
        "balanceBefore",
        "balanceAfter",
        "createdAt",
    }
    assert [
        (i["actionId"], i["actionName"], i["pointsAwarded"], i["balanceBefore"], i["balanceAfter"])
        for i in page["items"]
    ] == [
        ("purchase-item", "Purchase Item", 100, 15, 115),
        ("complete-quest", "Complete Quest", 10, 5, 15),
        ("daily-login", "Daily Login", 5, 0, 5),
    ]
    assert page["items"][1]["reason"] == "dragon slain"
    assert datetime.fromisoformat(first["createdAt"]) == T0 + timedelta(hours=2)
    assert first["createdAt"].endswith(("Z", "+00:00"))


async def test_pages_have_no_gaps_or_duplicates_across_equal_times(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Walk 23 awards 4 at a time, many sharing one timestamp: every award once, in (time, id) order."""
    me = await player(client)
    for n in range(23):
        await award(db, me.id, "complete-quest", at=T0 + timedelta(minutes=n // 5))  # groups of 5 equal times
    expected = await db.fetch(
        "SELECT id FROM score_history WHERE user_id = $1 ORDER BY created_at DESC, id DESC", me.id
    )
    items = await walk(client, "/api/users/me/history", me.headers, limit=4)
    assert [i["id"] for i in items] == [r["id"] for r in expected]
    for exact in (23, 1):
        assert [i["id"] for i in await walk(client, "/api/users/me/history", me.headers, limit=exact)] == [
            r["id"] for r in expected
        ]


async def test_pages_stay_exact_under_concurrent_inserts(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """New awards landing while a client pages never shift, repeat or hide the awards that were there."""
    me = await player(client)
    for n in range(60):
        await award(db, me.id, "daily-login", at=T0 + timedelta(seconds=n))
    before = {r["id"] for r in await db.fetch("SELECT id FROM score_history WHERE user_id = $1", me.id)}
    stop = asyncio.Event()

    async def insert_meanwhile() -> int:
        inserted = 0
        while not stop.is_set():
            await award(db, me.id, "complete-quest")
            inserted += 1
            await asyncio.sleep(0)
        return inserted

    writer = asyncio.create_task(insert_meanwhile())
    try:
        items = await walk(client, "/api/users/me/history", me.headers, limit=7)
    finally:
        stop.set()
    assert await writer > 0
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "an award was served twice"
    assert before <= set(ids), "an award that existed before the walk was skipped"
    assert keys(items) == sorted(keys(items), reverse=True)


async def test_stats_on_known_data(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Total actions and points, the average, the best single action and the last action (seed query 7)."""
    me = await player(client)
    empty = (await client.get("/api/users/me/stats", headers=me.headers)).json()
    assert empty == {
        "totalActions": 0,
        "totalPoints": 0,
        "averagePoints": None,
        "bestSingleAction": None,
        "lastAction": None,
    }
    await award(db, me.id, "daily-login", at=T0)
    await award(db, me.id, "achievement-unlock", at=T0 + timedelta(minutes=1))
    await award(db, me.id, "complete-quest", reason="last", at=T0 + timedelta(minutes=2))
    other = await player(client)
    await award(db, other.id, "purchase-item", at=T0 + timedelta(minutes=3))
    stats = (await client.get("/api/users/me/stats", headers=me.headers)).json()
    assert (stats["totalActions"], stats["totalPoints"], stats["averagePoints"], stats["bestSingleAction"]) == (
        3,
        40,
        13.33,
        25,
    )
    last = stats["lastAction"]
    assert (last["actionId"], last["actionName"], last["reason"], last["balanceAfter"]) == (
        "complete-quest",
        "Complete Quest",
        "last",
        40,
    )
    assert datetime.fromisoformat(last["createdAt"]) == T0 + timedelta(minutes=2)


async def test_who_may_read_whose_history(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Self: yes; another player: 403; admin: anyone's, 404 for nobody; anonymous: 401."""
    me, other = await player(client), await player(client)
    boss = await admin(client, db)
    await award(db, other.id, "complete-quest", at=T0)
    own = await client.get(f"/api/users/{me.id}/history", headers=me.headers)
    assert (own.status_code, own.json()["items"]) == (200, [])
    assert_problem(await client.get(f"/api/users/{other.id}/history", headers=me.headers), 403)
    # A player learns nothing about which ids exist.
    assert_problem(await client.get(f"/api/users/{uuid4()}/history", headers=me.headers), 403)
    seen = await client.get(f"/api/users/{other.id}/history", headers=boss.headers)
    assert [i["actionId"] for i in seen.json()["items"]] == ["complete-quest"]
    assert_problem(await client.get(f"/api/users/{uuid4()}/history", headers=boss.headers), 404)
    for url in ("/api/users/me/history", "/api/users/me/stats", f"/api/users/{other.id}/history"):
        assert_problem(await client.get(url), 401)
    # Other players' awards never show in mine.
    assert (await client.get("/api/users/me/history", headers=me.headers)).json()["items"] == []


async def test_history_of_a_deactivated_user_stays_readable_by_admins(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Soft-deleted users keep their history (the audit trail); admins can read it."""
    gone = await player(client)
    await award(db, gone.id, "daily-login", at=T0)
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", gone.id)
    boss = await admin(client, db)
    response = await client.get(f"/api/users/{gone.id}/history", headers=boss.headers)
    assert [i["pointsAwarded"] for i in response.json()["items"]] == [5]


@pytest.mark.parametrize("bad", BAD_CURSORS)
async def test_bad_cursors_are_422(client: httpx.AsyncClient, db: asyncpg.Connection, bad: str) -> None:
    """A cursor we did not make is a 422 problem naming `cursor`, never a 500."""
    me = await player(client)
    boss = await admin(client, db)
    for url, headers in (("/api/users/me/history", me.headers), (f"/api/users/{me.id}/history", boss.headers)):
        body = assert_problem(await client.get(url, params={"cursor": bad}, headers=headers), 422)
        assert any(e["loc"][-1] == "cursor" for e in body["errors"])


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"limit": -1}])
async def test_out_of_range_limits_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    """Page sizes are 1..100."""
    me = await player(client)
    assert_problem(await client.get("/api/users/me/history", params=params, headers=me.headers), 422)


async def test_limits_at_the_bounds_work(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """1 and 100 are accepted; a malformed user id is a 422."""
    me = await player(client)
    await award(db, me.id, "daily-login", at=T0)
    await award(db, me.id, "daily-login", at=T0 + timedelta(seconds=1))
    one = (await client.get("/api/users/me/history", params={"limit": 1}, headers=me.headers)).json()
    assert (len(one["items"]), one["nextCursor"] is not None) == (1, True)
    hundred = (await client.get("/api/users/me/history", params={"limit": 100}, headers=me.headers)).json()
    assert (len(hundred["items"]), hundred["nextCursor"]) == (2, None)
    assert_problem(await client.get("/api/users/not-a-uuid/history", headers=me.headers), 422)


async def test_a_cursor_past_the_end_gives_an_empty_page(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """A well-formed cursor older than every award is simply the end."""
    me = await player(client)
    await award(db, me.id, "daily-login", at=T0)
    token = cursor.encode(T0 - timedelta(days=1), 1)
    page = (await client.get("/api/users/me/history", params={"cursor": token}, headers=me.headers)).json()
    assert (page["items"], page["nextCursor"]) == ([], None)


def test_cursor_round_trip() -> None:
    """What encode makes, decode reads back exactly, microseconds and zone included."""
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    token = cursor.encode(at, 2**63 - 1)
    assert "=" not in token
    assert cursor.decode(token) == cursor.Cursor(at, 2**63 - 1)


async def test_award_through_the_api_shows_in_history(client: httpx.AsyncClient) -> None:
    """An award made by POST /api/scores is the newest history entry, with its reason."""
    me: Account = await player(client)
    posted = await client.post(
        "/api/scores", json={"actionId": "complete-quest", "reason": "quest 1"}, headers=me.headers
    )
    assert posted.status_code == 201, posted.text
    (entry,) = (await client.get("/api/users/me/history", headers=me.headers)).json()["items"]
    assert (entry["id"], entry["reason"], entry["balanceAfter"]) == (posted.json()["historyId"], "quest 1", 10)
