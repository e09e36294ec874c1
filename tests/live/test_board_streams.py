"""Live boards over real TCP: each board's snapshot, score updates and period ends, from the one subscription."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from websockets.exceptions import InvalidStatus

from scoreboard.live import hub as hub_module
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.boards import add_board
from tests.fixtures.live import DELIVERIES, Live, award, delivery_settings, tune
from tests.fixtures.polling import eventually
from tests.fixtures.problems import assert_problem
from tests.fixtures.streams import sse, websocket, ws_event

SEED_FIELDS = {"type", "userId", "newScore", "scoreChange", "actionId", "rank", "timestamp", "leaderboard"}
# A board's update: the global event's id, which board and period, and what that period held for the player before.
BOARD_FIELDS = {"eventId", "boardId", "period", "previousScore"}
GLOBAL_FIELDS = {"eventId", "previousScore"}


def table(rows: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(userId, score, rank) of each row."""
    return [(r["userId"], r["score"], r["rank"]) for r in rows]


def instant(text: str) -> datetime:
    """A time as the API writes it."""
    return datetime.fromisoformat(text)


async def boss_of(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """An admin of this app."""
    return await admin(client, db)


async def test_a_board_stream_opens_with_its_period_and_follows_the_awards_counted_there(
    live: Live, db: asyncpg.Connection
) -> None:
    async with live() as (base, client, _):
        boss = await boss_of(client, db)
        alice, bob = await player(client), await player(client)
        await award(client, alice)  # global only: the board does not exist yet
        board = await add_board(client, boss, "today", "daily", timeZone="Asia/Tokyo")
        await award(client, bob)
        async with sse(base, "/api/boards/today/stream", params={"limit": 5}) as stream, sse(base) as whole:
            snapshot = (await stream.until("snapshot")).data
            assert (snapshot["boardId"], snapshot["period"]) == ("today", board["currentPeriod"])
            assert instant(snapshot["periodStartsAt"]) == instant(board["currentPeriodStartsAt"])
            assert instant(snapshot["periodEndsAt"]) == instant(board["currentPeriodEndsAt"])
            assert table(snapshot["leaderboard"]) == [(str(bob.id), 10, 1)]
            assert (snapshot["totalPlayers"], snapshot["source"]) == (1, "redis")
            await whole.until("snapshot")
            await award(client, alice)  # global 20; today 10, tied with bob who reached it first
            update = await stream.event()
            seen_globally = await whole.until("score_update")
        assert update.event == "score_update"
        assert set(update.data) == SEED_FIELDS | BOARD_FIELDS
        assert (update.data["boardId"], update.data["period"]) == ("today", board["currentPeriod"])
        assert (update.data["userId"], update.data["actionId"]) == (str(alice.id), "complete-quest")
        assert (update.data["newScore"], update.data["scoreChange"], update.data["rank"]) == (10, 10, 1)
        assert update.data["previousScore"] == 0  # alice's first award today (her global score was 10 before)
        assert table(update.data["leaderboard"]) == [(str(bob.id), 10, 1), (str(alice.id), 10, 1)]
        assert update.id == update.data["eventId"] == seen_globally.id
        assert update.data["timestamp"] == seen_globally.data["timestamp"]
        # The global stream is the seed's, as before: its own score and rank; the message as published also lists
        # the other boards the award counted on.
        assert set(seen_globally.data) == SEED_FIELDS | GLOBAL_FIELDS | {"boards"}
        assert seen_globally.data["boards"] == [
            {"boardId": "today", "period": board["currentPeriod"], "score": 10, "rank": 1, "previousScore": 0}
        ]
        assert (seen_globally.data["newScore"], seen_globally.data["rank"]) == (20, 1)


async def test_the_websocket_twin_gets_the_same_board_events(live: Live, db: asyncpg.Connection) -> None:
    async with live() as (base, client, _):
        boss = await boss_of(client, db)
        board = await add_board(client, boss, "week", "weekly", timeZone="Europe/Paris")
        alice = await player(client)
        await award(client, alice)
        async with websocket(base, "limit=3", path="/api/boards/week/ws") as ws:
            snapshot = await ws_event(ws, "snapshot")
            assert (snapshot["boardId"], snapshot["period"]) == ("week", board["currentPeriod"])
            assert table(snapshot["leaderboard"]) == [(str(alice.id), 10, 1)]
            await award(client, alice, "achievement-unlock")
            update = await ws_event(ws)
            assert update["type"] == "score_update"
            assert set(update) == SEED_FIELDS | BOARD_FIELDS
            assert (update["newScore"], update["scoreChange"], update["rank"]) == (35, 25, 1)
            assert update["previousScore"] == 10
            await ws.send("ping")
            assert (await ws_event(ws, "pong"))["type"] == "pong"


@pytest.mark.parametrize("delivery", DELIVERIES)
async def test_each_stream_gets_only_its_own_boards_awards(live: Live, db: asyncpg.Connection, delivery: str) -> None:
    """An award on another board reaches none of this board's clients, whichever way events reach the sockets."""
    async with live(**delivery_settings(delivery)) as (base, client, hub):
        tune(hub, delivery)
        boss = await boss_of(client, db)
        await add_board(client, boss, "quests", "weekly", actions=["complete-quest"])
        await add_board(client, boss, "unlocks", "daily", actions=["achievement-unlock"])
        alice = await player(client)
        async with (
            sse(base, "/api/boards/quests/stream") as quests,
            sse(base, "/api/boards/unlocks/stream") as unlocks,
            sse(base) as whole,
        ):
            for stream in (quests, unlocks, whole):
                await stream.until("snapshot")
            unlocked = await award(client, alice, "achievement-unlock")
            quested = await award(client, alice, "complete-quest")
            first = await quests.event()
            assert (first.event, first.data["actionId"], first.data["newScore"]) == (
                "score_update",
                "complete-quest",
                10,
            )
            assert first.data["eventId"] == hub.last_id
            only = await unlocks.event()
            assert (only.data["actionId"], only.data["newScore"], only.data["boardId"]) == (
                "achievement-unlock",
                25,
                "unlocks",
            )
            assert [(await whole.event()).data["newScore"] for _ in range(2)] == [
                unlocked["newScore"],
                quested["newScore"],
            ]
            # Still one subscription for the process, however many boards are live.
            assert (await hub.redis.pubsub_numsub("leaderboard:updates")) == [("leaderboard:updates", 1)]
            assert set(hub.boards.audiences) == {
                ("quests", first.data["period"]),
                ("unlocks", only.data["period"]),
            }


async def test_a_period_end_sends_the_final_top_then_the_next_periods_snapshot(
    live: Live, db: asyncpg.Connection
) -> None:
    async with live() as (base, client, hub):
        boss = await boss_of(client, db)
        board = await add_board(client, boss, "today", "daily", timeZone="America/New_York")
        alice, bob = await player(client), await player(client)
        for account, times in ((alice, 2), (bob, 1)):
            for _ in range(times):
                await award(client, account)
        end = instant(board["currentPeriodEndsAt"])
        async with (
            sse(base, "/api/boards/today/stream", params={"limit": 1}) as stream,
            sse(base, "/api/boards/today/stream") as wide,
            sse(base) as whole,
        ):
            for s in (stream, wide, whole):
                await s.until("snapshot")
            await hub.roll(end - timedelta(milliseconds=1))  # the last instant of the day: nothing ends
            await hub.roll(end)
            over, wide_over = await stream.event(), await wide.event()
            assert over.event == "period_end"
            assert over.id is None  # not part of the resumable sequence
            data = over.data
            assert (data["boardId"], data["period"], data["source"]) == ("today", board["currentPeriod"], "postgres")
            assert instant(data["periodEndsAt"]) == end
            assert data["nextPeriod"] == end.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d")
            assert table(data["leaderboard"]) == [(str(alice.id), 20, 1)]  # this client keeps one row
            assert table(wide_over.data["leaderboard"]) == [(str(alice.id), 20, 1), (str(bob.id), 10, 2)]
            assert data["totalPlayers"] == 2
            fresh = await stream.event()
            assert fresh.event == "snapshot"
            assert (fresh.data["period"], fresh.data["leaderboard"], fresh.data["totalPlayers"]) == (
                data["nextPeriod"],
                [],
                0,
            )
            assert instant(fresh.data["periodStartsAt"]) == end
            assert set(hub.boards.audiences) == {("today", data["nextPeriod"])}
            # The global stream saw none of it.
            await award(client, bob)
            assert (await whole.event()).event == "score_update"


async def test_the_heartbeat_tick_ends_a_period_by_itself(
    live: Live, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No job ends a period: the hub's tick sees it is over (here the tick's clock is a day ahead)."""
    async with live(stream_heartbeat_seconds=0.2) as (base, client, _):
        boss = await boss_of(client, db)
        board = await add_board(client, boss, "today", "daily")
        alice = await player(client)
        await award(client, alice)
        async with sse(base, "/api/boards/today/stream") as stream:
            await stream.until("snapshot")
            monkeypatch.setattr(hub_module, "ROLL_SETTLE", timedelta(days=-1))
            over = await stream.until("period_end", within=5)
            assert (over.data["period"], table(over.data["leaderboard"])) == (
                board["currentPeriod"],
                [(str(alice.id), 10, 1)],
            )
            fresh = await stream.until("snapshot")
            assert fresh.data["period"] == over.data["nextPeriod"] != board["currentPeriod"]


async def test_my_rank_on_a_board_and_across_its_period_end(live: Live, db: asyncpg.Connection) -> None:
    async with live() as (base, client, hub):
        boss = await boss_of(client, db)
        board = await add_board(client, boss, "month", "monthly")
        me, rival = await player(client), await player(client)
        await award(client, me)
        ticket = (await client.post("/api/leaderboard/stream-ticket", headers=me.headers)).json()["ticket"]
        async with sse(base, "/api/boards/month/stream", params={"ticket": ticket}) as stream:
            mine = await stream.until("my_rank")
            assert (mine.data["rank"], mine.data["score"], mine.data["userId"]) == (1, 10, str(me.id))
            await award(client, rival)
            await award(client, rival)  # 20 on the board: passed
            mine = await stream.until("my_rank", within=2)
            assert (mine.data["rank"], mine.data["score"]) == (2, 10)
            await award(client, me, "achievement-unlock")  # 35: first again
            mine = await stream.until("my_rank")
            assert (mine.data["rank"], mine.data["score"]) == (1, 35)
            await hub.roll(instant(board["currentPeriodEndsAt"]))
            assert (await stream.until("period_end")).data["leaderboard"][0]["userId"] == str(me.id)
            assert (await stream.until("snapshot")).data["totalPlayers"] == 0


async def test_last_event_id_resumes_a_board_stream_with_only_its_events(live: Live, db: asyncpg.Connection) -> None:
    async with live() as (base, client, hub):
        boss = await boss_of(client, db)
        await add_board(client, boss, "quests", "daily", actions=["complete-quest"])
        alice = await player(client)
        async with sse(base, "/api/boards/quests/stream") as stream:
            await stream.until("snapshot")
            await award(client, alice)
            seen = (await stream.until("score_update")).id
            assert seen is not None
        await eventually(lambda: asyncio.sleep(0, not hub.clients))
        await award(client, alice, "achievement-unlock")  # not on this board
        missed = await award(client, alice)
        await asyncio.sleep(0.3)  # let the hub receive both
        async with sse(base, "/api/boards/quests/stream", headers={"Last-Event-ID": str(seen)}) as stream:
            replayed = await stream.event()
            assert (replayed.event, replayed.id) == ("score_update", seen + 2)
            assert (replayed.data["newScore"], missed["newScore"]) == (20, 45)
            await award(client, alice)
            assert (await stream.event()).id == seen + 3
        # A resume from an id the board cannot vouch for gets a snapshot.
        async with sse(base, "/api/boards/quests/stream", params={"lastEventId": "1"}) as stream:
            assert (await stream.event()).event == "snapshot"


async def test_board_reads_fall_back_to_postgresql_when_redis_fails(live: Live, db: asyncpg.Connection) -> None:
    async with live() as (base, client, hub):
        boss = await boss_of(client, db)
        await add_board(client, boss, "today", "daily")
        alice = await player(client)
        await award(client, alice)
        async with sse(base, "/api/boards/today/stream") as stream:
            await stream.until("snapshot")
            (audience,) = hub.boards.audiences.values()

            async def down(*_: object) -> None:
                raise RedisConnectionError("Redis is away")

            audience.board.page = down  # type: ignore[method-assign]
            audience.board.snapshot = down  # type: ignore[method-assign]
            await award(client, alice)
            update = await stream.until("score_update")
            assert table(update.data["leaderboard"]) == [(str(alice.id), 20, 1)]
            async with sse(base, "/api/boards/today/stream") as late:
                snapshot = (await late.until("snapshot")).data
                assert (snapshot["source"], table(snapshot["leaderboard"])) == ("postgres", [(str(alice.id), 20, 1)])


async def test_global_is_the_global_stream(live: Live) -> None:
    async with live() as (base, client, hub):
        alice = await player(client)
        async with sse(base, "/api/boards/global/stream") as stream:
            snapshot = (await stream.until("snapshot")).data
            assert "boardId" not in snapshot
            await award(client, alice)
            update = await stream.until("score_update")
            assert set(update.data) == SEED_FIELDS | GLOBAL_FIELDS
            assert not hub.boards.audiences
        async with websocket(base, path="/api/boards/global/ws") as ws:
            assert "boardId" not in await ws_event(ws, "snapshot")


async def test_unknown_inactive_and_malformed_board_streams_are_refused(
    live: Live, db: asyncpg.Connection, redis: Redis
) -> None:
    async with live() as (base, client, hub):
        boss = await boss_of(client, db)
        await add_board(client, boss, "gone", "daily")
        deactivated = await client.post("/api/admin/boards/gone/deactivate", headers=boss.headers)
        assert deactivated.status_code == 200, deactivated.text
        me = await player(client)
        ticket = (await client.post("/api/leaderboard/stream-ticket", headers=me.headers)).json()["ticket"]
        async with httpx.AsyncClient(base_url=base) as http:
            for path, params, status in [
                ("/api/boards/nope/stream", {}, 404),
                ("/api/boards/gone/stream", {}, 404),
                ("/api/boards/gone/stream", {"ticket": ticket}, 404),
                ("/api/boards/" + "x" * 65 + "/stream", {}, 422),
                ("/api/boards/global/stream", {"limit": 0}, 422),
                ("/api/boards/nope/stream", {"limit": 101}, 422),
            ]:
                assert_problem(await http.get(path, params=params), status)
        # The refused stream did not spend the ticket.
        async with sse(base, "/api/boards/global/stream", params={"ticket": ticket}) as stream:
            assert (await stream.until("my_rank")).data["userId"] == str(me.id)
        for path, query, status in [("/api/boards/nope/ws", "", 404), ("/api/boards/gone/ws", "limit=0", 422)]:
            with pytest.raises(InvalidStatus) as refused:
                async with websocket(base, query, path=path):
                    pass
            assert refused.value.response.status_code == status
        assert not hub.boards.audiences


async def test_stream_caps_count_board_streams_too(live: Live, db: asyncpg.Connection) -> None:
    async with live(stream_max_per_ip=2) as (base, client, _hub):
        boss = await boss_of(client, db)
        await add_board(client, boss, "today", "daily")
        async with sse(base, "/api/boards/today/stream") as one, sse(base) as two:
            await one.until("snapshot")
            await two.until("snapshot")
            async with httpx.AsyncClient(base_url=base) as http:
                for path in ("/api/boards/today/stream", "/api/leaderboard/stream"):
                    refused = await http.get(path)
                    assert_problem(refused, 429)
                    assert refused.headers["retry-after"] == "5"
            with pytest.raises(InvalidStatus, match="429"):
                async with websocket(base, path="/api/boards/today/ws"):
                    pass
    async with live(stream_max_connections=1) as (base, _, _hub), sse(base) as stream:  # "today" is in the database
        await stream.until("snapshot")
        async with httpx.AsyncClient(base_url=base) as http:
            assert_problem(await http.get("/api/boards/today/stream"), 503)
        with pytest.raises(InvalidStatus, match="503"):
            async with websocket(base, path="/api/boards/today/ws"):
                pass


@pytest.mark.parametrize("opened", [True, False], ids=["after-its-snapshot", "before-its-snapshot"])
async def test_a_lagging_client_gets_the_period_end_before_the_next_periods_snapshot(opened: bool) -> None:
    """What was queued goes out first, then the new period's snapshot, then only the events it does not cover."""
    sent: list[tuple[str, Any]] = []
    gate = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        await gate.wait()  # the socket takes nothing yet: everything queues
        data = json.loads(message["text"])
        sent.append((data["type"], data.get("eventId", data.get("period"))))

    async def old_period() -> Event:
        return Event.build("snapshot", 5, eventId=5)

    async def new_period() -> Event:
        return Event.build("snapshot", 7, eventId=7)

    async def never() -> dict[str, str]:
        await asyncio.sleep(3600)
        return {"type": "websocket.disconnect"}

    client = Client(kind="ws", send=send, limit=10, limits=Limits(8, 5, 60, 3000), snapshot=old_period)
    client.start(None, None)
    serving = asyncio.create_task(client.serve(never))
    if opened:
        for _ in range(5):
            await asyncio.sleep(0)  # its first snapshot is read and on its way
    client.push(Event.build("score_update", 6))
    client.push(Event.build("period_end", period="old"))
    client.then_snapshot(new_period)
    client.push(Event.build("score_update", 7))  # the new snapshot covers it
    client.push(Event.build("score_update", 8))
    gate.set()
    expected = [("snapshot", 7), ("score_update", 8)]
    if opened:
        expected = [("snapshot", 5), ("score_update", 6), ("period_end", "old"), *expected]
    await eventually(lambda: asyncio.sleep(0, len(sent) >= len(expected)), within=2)
    await asyncio.sleep(0.05)
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    assert sent == expected
