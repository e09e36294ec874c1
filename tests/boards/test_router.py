"""Board reads and the admin catalog: every award counts on the boards it belongs to; bad input is a 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.boards import add_board, entries
from tests.fixtures.problems import assert_problem


async def award(client: httpx.AsyncClient, account: Account, action: str = "complete-quest") -> dict:
    """One award (201 expected)."""
    response = await client.post("/api/scores", headers=account.headers, json={"actionId": action})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_award_counts_on_every_board_it_belongs_to_in_postgresql_and_redis(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """Daily and monthly boards count every action, a weekly one only quests; global stays the seed's board."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily", timeZone="Europe/Paris")
    await add_board(client, boss, "quests", "weekly", actions=["complete-quest"])
    await add_board(client, boss, "month", "monthly")
    alice, bob = await player(client), await player(client)
    await award(client, alice, "complete-quest")
    await award(client, alice, "achievement-unlock")
    await award(client, bob, "achievement-unlock")

    today = await entries(client, "today")
    assert [(e["username"], e["score"], e["rank"]) for e in today["entries"]] == [
        (alice.username, 35, 1),
        (bob.username, 25, 2),
    ]
    assert today["totalPlayers"] == 2
    assert today["period"] == datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).strftime(
        "%Y-%m-%d"
    )
    quests = await entries(client, "quests")
    assert [(e["username"], e["score"]) for e in quests["entries"]] == [(alice.username, 10)]
    month = await entries(client, "month")
    assert month["entries"] == today["entries"]
    stored = await db.fetch("SELECT board_id, user_id, score FROM board_scores ORDER BY board_id, score DESC")
    assert [(r["board_id"], r["score"]) for r in stored] == [
        ("month", 35),
        ("month", 25),
        ("quests", 10),
        ("today", 35),
        ("today", 25),
    ]
    # Redis holds the same standings under the period's keys (the seed's `leaderboard` stays the global board).
    assert await redis.zscore(f"board:{{today:{today['period']}}}", str(alice.id)) == 35
    assert await redis.zscore("leaderboard", str(alice.id)) == 35

    global_board = await entries(client, "global", limit=100)
    seed = (await client.get("/api/leaderboard", params={"limit": 100})).json()
    assert global_board["entries"] == seed["entries"]
    assert global_board["totalPlayers"] == seed["totalPlayers"]


async def test_the_published_message_carries_the_award_on_every_other_board(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """One message per award: the seed's fields plus `boards`, each with the player's score and rank there."""
    boss = await admin(client, db)
    board = await add_board(client, boss, "today", "daily")
    someone = await player(client)
    pubsub = redis.pubsub()
    await pubsub.subscribe("leaderboard:updates")
    try:
        await award(client, someone, "achievement-unlock")
        message = None
        while message is None or message["type"] != "message":
            message = await pubsub.get_message(timeout=5)
    finally:
        await pubsub.aclose()
    import json

    body = json.loads(message["data"])
    assert body["type"] == "score_update"
    assert body["newScore"] == 25
    assert body["boards"] == [
        {"boardId": "today", "period": board["currentPeriod"], "score": 25, "rank": 1, "previousScore": 0}
    ]


async def test_ties_on_a_period_board_go_to_whoever_reached_the_score_first_within_the_period(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Competition ranks (1, 1, 3) and first-to-reach order, in Redis and in PostgreSQL alike."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily")
    first, second, third = await player(client), await player(client), await player(client)
    await award(client, second, "complete-quest")
    await award(client, first, "achievement-unlock")  # 25: first to 25
    await award(client, second, "complete-quest")
    await award(client, third, "complete-quest")
    await award(client, second, "daily-login")  # 25: second to 25
    page = await entries(client, "today")
    assert [(e["username"], e["score"], e["rank"]) for e in page["entries"]] == [
        (first.username, 25, 1),
        (second.username, 25, 1),
        (third.username, 10, 3),
    ]
    key = page["period"]
    archived = await entries(client, "today", period=key)  # a key names the period: same answer
    assert archived["entries"] == page["entries"]
    me = (await client.get("/api/boards/today/me", headers=second.headers)).json()
    assert (me["rank"], me["score"], me["totalPlayers"], me["boardId"], me["period"]) == (1, 25, 3, "today", key)
    around = (await client.get(f"/api/boards/today/around/{third.id}", params={"radius": 1})).json()
    assert [e["username"] for e in around["entries"]] == [second.username, third.username]
    ranked = await client.post("/api/boards/today/ranks", json={"userIds": [str(third.id), str(boss.id)]})
    assert [e["username"] for e in ranked.json()["entries"]] == [third.username]
    assert ranked.json()["missing"] == [str(boss.id)]


async def test_pages_follow_the_cursor_to_the_end(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """`nextCursor` walks the period in order; the last page has none; a forged cursor is a 422."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily")
    players = [await player(client) for _ in range(5)]
    for account in players:
        await award(client, account)
    seen, cursor = [], None
    while True:
        page = await entries(client, "today", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [e["userId"] for e in page["entries"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(a.id) for a in players)
    assert len(seen) == 5
    response = await client.get("/api/boards/today/entries", params={"cursor": "not-ours"})
    assert_problem(response, 422)


async def test_a_finished_period_answers_from_postgresql_with_its_final_standings(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Yesterday's top and a player's final rank there; `previous` names it; today starts empty."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily")
    alice, bob = await player(client), await player(client)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    key = yesterday.strftime("%Y-%m-%d")
    for who, score in ((alice, 40), (bob, 70)):
        await db.execute(
            "INSERT INTO board_scores (board_id, period, user_id, score, reached_at) VALUES ('today', $1, $2, $3, $4)",
            key,
            who.id,
            score,
            yesterday,
        )
    previous = await client.get("/api/boards/today/entries", params={"period": "previous"})
    assert previous.headers["X-Scoreboard-Source"] == "postgres"
    body = previous.json()
    assert body["period"] == key
    assert [(e["username"], e["rank"]) for e in body["entries"]] == [(bob.username, 1), (alice.username, 2)]
    mine = await client.get("/api/boards/today/me", params={"period": key}, headers=alice.headers)
    assert (mine.json()["rank"], mine.json()["score"]) == (2, 40)
    assert (await entries(client, "today"))["totalPlayers"] == 0
    nobody = await client.get("/api/boards/today/me", headers=alice.headers)
    assert_problem(nobody, 404)


async def test_catalog_lists_changes_and_deactivates_boards(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """201 with the board; PATCH changes future awards only; a deactivated board stops counting but stays readable."""
    boss = await admin(client, db)
    created = await add_board(client, boss, "s1", "season", startsAt="2026-01-01T00:00:00Z", endsAt="2099-01-01T00:00Z")
    assert (created["currentPeriod"], created["isActive"]) == ("season", True)
    listed = (await client.get("/api/boards")).json()["boards"]
    assert [b["id"] for b in listed] == ["global", "s1"]
    changed = await client.patch(
        "/api/admin/boards/s1", headers=boss.headers, json={"name": "Season one", "actions": ["achievement-unlock"]}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["actions"]) == ("Season one", ["achievement-unlock"])
    someone = await player(client)
    await award(client, someone, "complete-quest")  # does not count any more
    await award(client, someone, "achievement-unlock")
    assert [e["score"] for e in (await entries(client, "s1"))["entries"]] == [25]
    off = await client.post("/api/admin/boards/s1/deactivate", headers=boss.headers)
    assert off.json()["isActive"] is False
    await award(client, someone, "achievement-unlock")
    assert [e["score"] for e in (await entries(client, "s1"))["entries"]] == [25]
    assert [b["id"] for b in (await client.get("/api/boards")).json()["boards"]] == ["global"]
    everything = (await client.get("/api/admin/boards", headers=boss.headers)).json()["boards"]
    assert [b["id"] for b in everything] == ["global", "s1"]


async def test_a_season_counts_only_between_its_start_and_its_end(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A season that has not begun, or has ended, counts nothing."""
    boss = await admin(client, db)
    now = datetime.now(UTC)
    await add_board(
        client,
        boss,
        "later",
        "season",
        startsAt=(now + timedelta(days=1)).isoformat(),
        endsAt=(now + timedelta(days=2)).isoformat(),
    )
    await add_board(
        client,
        boss,
        "over",
        "season",
        startsAt=(now - timedelta(days=2)).isoformat(),
        endsAt=(now - timedelta(seconds=1)).isoformat(),
    )
    await add_board(
        client,
        boss,
        "now",
        "season",
        startsAt=(now - timedelta(days=1)).isoformat(),
        endsAt=(now + timedelta(days=1)).isoformat(),
    )
    await award(client, await player(client))
    assert (await db.fetchval("SELECT array_agg(board_id) FROM board_scores")) == ["now"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "x", "name": "X", "period": "daily", "timeZone": "Mars/Olympus"}, "timeZone"),
        (
            {
                "id": "x",
                "name": "X",
                "period": "season",
                "startsAt": "2027-01-02T00:00:00Z",
                "endsAt": "2027-01-01T00:00:00Z",
            },
            None,
        ),
        ({"id": "x", "name": "X", "period": "season"}, None),
        ({"id": "x", "name": "X", "period": "daily", "startsAt": "2027-01-02T00:00:00Z"}, None),
        ({"id": "x", "name": "X", "period": "hourly"}, "period"),
        ({"id": "Not A Slug", "name": "X", "period": "daily"}, "id"),
        ({"id": "x", "name": "X", "period": "daily", "actions": ["no-such-action"]}, "actions"),
        ({"id": "x", "name": "X", "period": "daily", "actions": []}, "actions"),
        ({"id": "x", "name": "X", "period": "daily", "colour": "red"}, "colour"),
    ],
)
async def test_bad_boards_are_422_and_nothing_is_created(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: dict, field: str | None
) -> None:
    """An invalid zone, a season ending before it starts, unknown actions, unknown fields: 422, never a 500."""
    boss = await admin(client, db)
    response = await client.post("/api/admin/boards", headers=boss.headers, json=body)
    problem = assert_problem(response, 422)
    if field is not None:
        assert field in str(problem), problem
    assert await db.fetchval("SELECT count(*) FROM boards") == 1


async def test_unknown_boards_and_periods_are_404_and_global_cannot_change(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """404 for a board or period that does not exist; 409 for a taken id and for changing `global`."""
    boss = await admin(client, db)
    await add_board(client, boss, "today", "daily")
    someone = await player(client)
    for path in ("/api/boards/nope", "/api/boards/nope/entries", f"/api/boards/nope/around/{someone.id}"):
        assert_problem(await client.get(path), 404)
    for period in ("bogus", "2026-13-01", "2026-W49", "all"):
        assert_problem(await client.get("/api/boards/today/entries", params={"period": period}), 404)
    assert_problem(await client.get("/api/boards/global/entries", params={"period": "previous"}), 404)
    assert_problem(
        await client.post(
            "/api/admin/boards", headers=boss.headers, json={"id": "today", "name": "T", "period": "daily"}
        ),
        409,
    )
    assert_problem(await client.patch("/api/admin/boards/global", headers=boss.headers, json={"name": "G"}), 409)
    assert_problem(await client.post("/api/admin/boards/global/deactivate", headers=boss.headers), 409)
    assert_problem(await client.patch("/api/admin/boards/nope", headers=boss.headers, json={"name": "G"}), 404)
    assert_problem(
        await client.patch("/api/admin/boards/today", headers=boss.headers, json={"endsAt": "2099-01-01T00:00:00Z"}),
        422,
    )
    assert_problem(
        await client.post(
            "/api/admin/boards", headers=someone.headers, json={"id": "y", "name": "Y", "period": "daily"}
        ),
        403,
    )
