"""The live board over real TCP: snapshot, seed-format updates, resumes, my_rank, tickets, sessions, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import InvalidStatus

from scoreboard.live.accelerator import Accelerator, DirectClient
from scoreboard.live.client import Client, Limits
from scoreboard.live.events import Event
from tests.fixtures.accounts import player
from tests.fixtures.apps import Running
from tests.fixtures.live import DELIVERIES, Live, award, delivery_settings, tune
from tests.fixtures.polling import eventually
from tests.fixtures.served import Service
from tests.fixtures.streams import Frame, serving, sse, websocket, ws_event

SEED_FIELDS = {"type", "userId", "newScore", "scoreChange", "actionId", "rank", "timestamp", "leaderboard"}
OUR_FIELDS = {"eventId", "previousScore"}  # additions: the resumable id, and what the board held before


async def test_sse_opens_with_a_snapshot_then_streams_seed_messages(live: Live) -> None:
    async with live() as (base, client, _):
        players = [await player(client) for _ in range(3)]
        for account, times in zip(players, (3, 1, 2), strict=True):
            for _ in range(times):
                await award(client, account)
        async with sse(base, params={"limit": 2}) as stream:
            opening = await stream.frame()
            assert opening.retry == 3000
            snapshot = await stream.event()
            assert snapshot.event == "snapshot"
            assert snapshot.data["totalPlayers"] == 3
            assert [(r["rank"], r["userId"], r["score"]) for r in snapshot.data["leaderboard"]] == [
                (1, str(players[0].id), 30),
                (2, str(players[2].id), 20),
            ]
            assert snapshot.id == snapshot.data["eventId"]
            body = await award(client, players[1])
            update = await stream.event(within=1.0)
        assert update.event == "score_update"
        assert set(update.data) == SEED_FIELDS | OUR_FIELDS
        assert update.data["userId"] == str(players[1].id)
        assert (update.data["newScore"], update.data["scoreChange"], update.data["rank"]) == (20, 10, 2)
        assert update.id == update.data["eventId"] == snapshot.id + 1
        assert body["rank"] == 2
        # limit=2 keeps two rows; players[1] and players[2] both have 20: players[2] reached it first.
        assert [r["userId"] for r in update.data["leaderboard"]] == [str(players[0].id), str(players[2].id)]


async def test_websocket_gets_the_same_events(live: Live) -> None:
    async with live() as (base, client, _):
        alice = await player(client)
        async with websocket(base, "limit=5") as ws:
            snapshot = await ws_event(ws, "snapshot")
            assert snapshot["leaderboard"][0]["userId"] == str(alice.id)
            await award(client, alice)
            update = await ws_event(ws, within=1.0)
            assert update["type"] == "score_update"
            assert set(update) == SEED_FIELDS | OUR_FIELDS
            assert update["newScore"] == 10
            await ws.send("ping")
            assert (await ws_event(ws, "pong"))["type"] == "pong"


async def test_last_event_id_resumes_gap_free(live: Live) -> None:
    async with live() as (base, client, _):
        alice = await player(client)
        async with sse(base) as stream:
            await stream.until("snapshot")
            for _ in range(3):
                await award(client, alice)
            seen = [(await stream.until("score_update")).id for _ in range(3)]
        missed = [(await award(client, alice))["newScore"] for _ in range(2)]
        await asyncio.sleep(0.3)  # let the hub receive both
        async with sse(base, headers={"Last-Event-ID": str(seen[-1])}) as stream:
            first, second = await stream.event(), await stream.event()
            assert [first.event, second.event] == ["score_update", "score_update"]
            assert [first.id, second.id] == [seen[-1] + 1, seen[-1] + 2]
            assert [first.data["newScore"], second.data["newScore"]] == missed
            await award(client, alice)
            assert (await stream.event()).id == seen[-1] + 3
        # Fully caught up: a resume with the last id sends nothing until the next update.
        async with sse(base, params={"lastEventId": str(seen[-1] + 3)}) as stream:
            await award(client, alice)
            assert (await stream.event()).id == seen[-1] + 4


@pytest.mark.parametrize("last_event_id", ["1", "not-a-number", "99999999999999999"])
async def test_unservable_resume_gets_a_snapshot(live: Live, last_event_id: str) -> None:
    async with live(stream_replay_events=2) as (base, client, _):
        alice = await player(client)
        for _ in range(5):
            await award(client, alice)
        await asyncio.sleep(0.3)
        async with sse(base, headers={"Last-Event-ID": last_event_id}) as stream:
            snapshot = await stream.event()
            assert snapshot.event == "snapshot"
            assert snapshot.data["leaderboard"][0]["score"] == 50


async def test_my_rank_follows_me_with_a_bearer_token_and_with_a_ticket(live: Live) -> None:
    async with live() as (base, client, _):
        me, rival = await player(client), await player(client)
        await award(client, me)  # me 10, rival 0
        ticket = (await client.post("/api/leaderboard/stream-ticket", headers=me.headers)).json()["ticket"]
        async with sse(base, headers=me.headers) as by_token, sse(base, params={"ticket": ticket}) as by_ticket:
            for stream in (by_token, by_ticket):
                mine = await stream.until("my_rank")
                assert (mine.data["rank"], mine.data["score"], mine.data["userId"]) == (1, 10, str(me.id))
            await award(client, rival)  # 10: a tie does not change my competition rank
            await award(client, rival)  # 20: passed
            for stream in (by_token, by_ticket):
                mine = await stream.until("my_rank", within=2)
                assert (mine.data["rank"], mine.data["score"]) == (2, 10)
            await award(client, me)
            await award(client, me)  # 30: first again
            for stream in (by_token, by_ticket):
                tied, ahead = (await stream.until("my_rank")).data, (await stream.until("my_rank")).data
                assert [(tied["rank"], tied["score"]), (ahead["rank"], ahead["score"])] == [(1, 20), (1, 30)]
        async with httpx.AsyncClient(base_url=base) as http:
            reused = await http.get("/api/leaderboard/stream", params={"ticket": ticket})
            assert reused.status_code == 401
            assert reused.headers["content-type"] == "application/problem+json"


async def test_bad_credentials_and_parameters_are_refused_with_problems(live: Live) -> None:
    async with live() as (base, client, _):
        me = await player(client)
        ticket = (await client.post("/api/leaderboard/stream-ticket", headers=me.headers)).json()["ticket"]
        async with httpx.AsyncClient(base_url=base) as http:
            path = "/api/leaderboard/stream"
            for params, headers, status in [
                ({}, {"Authorization": "Bearer forged"}, 401),
                ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
                ({"ticket": "slt_unknown"}, {}, 401),
                ({"ticket": ticket}, me.headers, 400),
                ({"limit": 0}, {}, 422),
                ({"limit": 101}, {}, 422),
            ]:
                response = await http.get(path, params=params, headers=headers)
                assert response.status_code == status, (params, headers, response.text)
                assert response.headers["content-type"] == "application/problem+json"
        anonymous = await client.post("/api/leaderboard/stream-ticket")
        assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("query", "loc"),
    [("limit=0", ["query", "limit"]), ("limit=abc", ["query", "limit"]), ("ticket=" + "t" * 201, ["query", "ticket"])],
)
async def test_an_invalid_query_is_the_same_422_problem_on_both_transports(
    live: Live, query: str, loc: list[str]
) -> None:
    async with live() as (base, _, hub):
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get(f"/api/leaderboard/stream?{query}")
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert (body["status"], body["instance"]) == (422, "/api/leaderboard/stream")
        assert [error["loc"] for error in body["errors"]] == [loc]
        with pytest.raises(InvalidStatus) as refused:
            async with websocket(base, query):
                pass
        assert refused.value.response.status_code == 422
        assert json.loads(refused.value.response.body)["errors"] == body["errors"]
        assert not hub.clients


async def test_by_default_events_go_through_the_asgi_send(live: Live) -> None:
    async with live() as (base, client, hub):
        assert "/api/leaderboard/stream" in (await client.get("/openapi.json")).json()["paths"]
        async with sse(base, params={"limit": 3}) as stream:
            assert (await stream.until("snapshot")).data["totalPlayers"] == 0
            (state,) = hub.clients
            assert type(state) is Client
            assert state.limit == 3
            body = await award(client, await player(client))
            assert (await stream.until("score_update")).data["newScore"] == body["newScore"]


async def test_with_the_accelerator_uvicorn_streams_take_events_on_their_sockets(live: Live) -> None:
    async with live(live_accelerator=True) as (base, client, hub), sse(base) as stream:
        assert (await stream.until("snapshot")).data["totalPlayers"] == 0
        (state,) = hub.clients
        assert isinstance(state, DirectClient)  # uvicorn, HTTP/1.1 chunked: events skip the ASGI send
        body = await award(client, await player(client))
        assert (await stream.until("score_update")).data["newScore"] == body["newScore"]


async def test_under_another_http_protocol_the_accelerator_leaves_the_stream_to_the_asgi_send(live: Live) -> None:
    """Direct socket writes are a uvicorn-httptools shortcut; elsewhere (here uvicorn's h11) `send` carries events."""
    async with live(live_accelerator=True) as (_, client, hub):
        app: Running = client._transport.app  # type: ignore[attr-defined]
        async with serving(app, http="h11") as base, sse(base) as stream:
            await stream.until("snapshot")
            (state,) = hub.clients
            assert not isinstance(state, DirectClient)
            body = await award(client, await player(client))
            update = await stream.until("score_update")
            assert (update.data["userId"], update.data["newScore"]) == (body["userId"], body["newScore"])


async def test_a_stream_request_announcing_an_oversized_body_is_413(live: Live) -> None:
    async with live(max_body_bytes=64) as (base, _, hub), httpx.AsyncClient(base_url=base) as http:
        response = await http.request("GET", "/api/leaderboard/stream", content=b"x" * 65)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert not hub.clients


async def test_events_written_from_threads_arrive_as_from_the_loop(live: Live) -> None:
    """Past `spread_from` streams the accelerator writes to the sockets from threads; streams see no difference."""
    async with live(live_accelerator=True) as (base, client, hub):
        tune(hub, "accelerator-threads")
        assert isinstance(hub.delivery, Accelerator)
        spreader = hub.delivery.spreader
        alice = await player(client)
        async with sse(base) as one, sse(base, params={"limit": 1}) as two, websocket(base, "limit=5") as ws:
            for stream in (one, two):
                await stream.until("snapshot")
            await ws_event(ws, "snapshot")
            for expected in (10, 20):
                written = spreader.jobs
                await award(client, alice)
                updates = [await one.until("score_update"), await two.until("score_update")]
                assert [u.data["newScore"] for u in updates] == [expected, expected]
                assert updates[0].id == updates[1].id == hub.last_id
                assert len(updates[1].data["leaderboard"]) == 1
                assert (await ws_event(ws, "score_update"))["newScore"] == expected
                assert spreader.jobs == written + 2  # both SSE streams' writes went through the spreader


async def _pipeline_a_stream_and_leave(base: str, before_leaving: Callable[[], Awaitable[None]] | None = None) -> None:
    """Open a stream, pipeline another request behind it, read the snapshot, and close the socket."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    stream = b"GET /api/leaderboard/stream HTTP/1.1\r\nHost: t\r\n\r\n"
    writer.write(stream + b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    received = b""
    async with asyncio.timeout(5):
        while b"event: snapshot" not in received:
            received += await reader.read(65536)
    if before_leaving is not None:
        await before_leaving()
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.2)


# uvicorn marks only the newest pipelined request disconnected, so the stream's own request never hears of it: the
# stream must notice the closed socket when it next writes. The accelerator checks the transport itself; the
# portable path learns it from the `send` that fails (uvloop raises on a closed transport; asyncio's event loop, which
# the in-process tests run on, drops the write silently: that case is the served process's test below).
@pytest.mark.parametrize("delivery", [d for d in DELIVERIES if d != "portable"])
async def test_a_peer_that_pipelined_a_request_and_left_is_dropped_at_the_next_event(live: Live, delivery: str) -> None:
    async with live(**delivery_settings(delivery)) as (base, client, hub):
        tune(hub, delivery)
        await _pipeline_a_stream_and_leave(base)
        await award(client, await player(client))
        await eventually(lambda: asyncio.sleep(0, not hub.clients))


async def test_a_served_process_drops_a_stream_whose_peer_pipelined_and_left(service: Service, redis: Redis) -> None:
    """`scoreboard serve` (uvloop, the portable path): the next event's failed write ends the stream."""
    # The stream is registered while its socket is open; once it is closed, nothing but a write can tell the server.
    await _pipeline_a_stream_and_leave(service.base, lambda: eventually(lambda: _sessions(redis, 1), within=5))
    async with httpx.AsyncClient(base_url=service.base) as http:
        await award(http, await player(http))
    await eventually(lambda: _sessions(redis, 0), within=5)


async def _sessions(redis: Redis, count: int) -> bool:
    return len([key async for key in redis.scan_iter("session:*")]) == count


async def test_connection_cap_answers_503_on_both_transports(live: Live) -> None:
    async with live(stream_max_connections=1) as (base, _, _hub), sse(base) as stream:
        await stream.until("snapshot")
        async with httpx.AsyncClient(base_url=base) as http:
            refused = await http.get("/api/leaderboard/stream")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        with pytest.raises(InvalidStatus, match="503"):
            async with websocket(base):
                pass


async def test_session_hash_lives_with_the_connection(live: Live, redis: Redis) -> None:
    async with live() as (base, client, hub):
        me = await player(client)
        async with sse(base, headers=me.headers) as stream:
            await stream.until("snapshot")
            (client_state,) = hub.clients
            key = f"session:{client_state.id}"
            await eventually(lambda: redis.exists(key))
            session = await redis.hgetall(key)
            assert session["user_id"] == str(me.id)
            assert session["transport"] == "sse"
            assert {"connected_at", "last_heartbeat"} <= set(session)
            assert 0 < await redis.ttl(key) <= 1800

        async def gone() -> bool:
            return not await redis.exists(key) and not hub.clients

        await eventually(gone)


async def test_heartbeats_and_max_lifetime(live: Live) -> None:
    async with live(stream_heartbeat_seconds=0.2, stream_max_lifetime_seconds=0.7) as (base, _, _hub):
        async with sse(base) as stream:
            frames: list[Frame] = []

            async def read_to_the_end() -> None:
                while True:
                    frames.append(await stream.frame(within=3))

            with pytest.raises(EOFError):
                await read_to_the_end()
        assert any(f.comment == "heartbeat" for f in frames)
        assert frames[-1].event == "reconnect"
        assert frames[-1].data == {"type": "reconnect", "reason": "lifetime", "retryMs": 3000}


async def test_heartbeats_reach_every_stream_when_written_in_slices(live: Live) -> None:
    async with live(stream_heartbeat_seconds=0.2) as (base, _, hub):
        hub.beat_slice = 1  # every stream in a slice of its own, with a yield to the loop between them
        async with sse(base) as first, sse(base) as second, sse(base) as third:
            for stream in (first, second, third):
                await stream.until("snapshot")
            for stream in (first, second, third):
                async with asyncio.timeout(3):
                    while (await stream.frame()).comment != "heartbeat":
                        pass


async def test_each_tick_beats_one_part_of_the_streams_and_every_stream_once_a_period(live: Live) -> None:
    async with live(stream_heartbeat_seconds=3600) as (base, client, hub), contextlib.AsyncExitStack() as stack:
        hub.beat_parts = 3
        alice = await player(client)
        streams = [await stack.enter_async_context(sse(base)) for _ in range(9)]
        for stream in streams:
            await stream.until("snapshot")
        beats = [0] * len(streams)
        for _ in range(hub.beat_parts):
            part = [c for c in hub.clients if c.id.int % 3 == hub._phase % 3]
            await hub.tick()
            await award(client, alice)  # a marker: what a stream reads before it came after the tick
            beaten = 0
            for i, stream in enumerate(streams):
                while (frame := await stream.frame()).event != "score_update":
                    if frame.comment == "heartbeat":
                        beats[i] += 1
                        beaten += 1
            assert beaten == len(part)
        assert beats == [1] * len(streams)


async def test_heartbeats_keep_their_period_while_redis_stalls(live: Live, redis: Redis) -> None:
    """Session writes queue behind the heartbeat: a Redis that takes seconds to answer cannot stretch it."""
    async with live(stream_heartbeat_seconds=2) as (base, _, _hub), sse(base) as stream:
        await stream.until("snapshot")
        await redis.execute_command("CLIENT", "PAUSE", "8000", "WRITE")  # scripts wait: every session write does
        try:
            started, beats = time.monotonic(), 0
            while beats < 2:
                beats += (await stream.frame(within=10)).comment == "heartbeat"
            # One every 2 s: two within ~4 s. Waiting for the sessions after each part would take 8 s or more.
            assert time.monotonic() - started < 6
        finally:
            await redis.execute_command("CLIENT", "UNPAUSE")


async def test_shutdown_tells_clients_to_reconnect(live: Live) -> None:
    async with live() as (base, _, hub):
        async with sse(base) as stream, websocket(base) as ws:
            await stream.until("snapshot")
            await ws_event(ws, "snapshot")
            await hub.drain()
            assert (await stream.event()).data["reason"] == "shutdown"
            assert (await ws_event(ws, "reconnect"))["reason"] == "shutdown"
            with pytest.raises(EOFError):
                await stream.frame()
            await ws.wait_closed()
            assert ws.close_code == 1012
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/api/leaderboard/stream")).status_code == 503


async def test_out_of_order_awards_publish_the_score_the_board_held(app: Running, redis: Redis) -> None:
    board = app.state["board"]
    await eventually(lambda: redis.exists("leaderboard:built"))  # awards publish once the board is built
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("leaderboard:updates")
    user, at = uuid4(), datetime.now(UTC)
    # Two awards of one player commit 10 -> 20 -> 30 but reach Redis the other way round.
    await board.apply_award(
        user_id=user, username="u", new_score=30, score_change=10, action_id="a", at=at, history_id=2
    )
    await board.apply_award(
        user_id=user, username="u", new_score=20, score_change=10, action_id="a", at=at, history_id=1
    )
    messages = []
    async with asyncio.timeout(5):
        while len(messages) < 2:
            message = await pubsub.get_message(timeout=1)
            if message is not None:
                messages.append(json.loads(message["data"]))
    await pubsub.aclose()
    assert [(m["previousScore"], m["newScore"], m["scoreChange"]) for m in messages] == [(0, 30, 10), (30, 30, 10)]
    assert messages[1]["eventId"] == messages[0]["eventId"] + 1


def socketless(snapshot: Callable[[], Awaitable[Event]], finished: list[str]) -> Client:
    """A client whose writes go nowhere and whose closing reason is appended to `finished`."""

    async def send(message: object) -> None:
        pass

    async def finish(reason: str) -> None:
        finished.append(reason)

    limits = Limits(queue=8, stall_seconds=2, lifetime_seconds=60, retry_ms=3000)
    return Client(kind="sse", send=send, finish=finish, limit=10, limits=limits, snapshot=snapshot)


async def never() -> dict[str, str]:
    """A peer that never speaks or leaves."""
    await asyncio.sleep(3600)
    return {"type": "http.disconnect"}


async def test_a_stream_attached_as_shutdown_begins_is_told_to_reconnect(live: Live) -> None:
    async with live() as (_, _, hub):
        hub.begin_drain()
        finished: list[str] = []
        client = socketless(hub.snapshot, finished)
        hub.attach(client, None)
        try:
            await asyncio.wait_for(client.serve(never), 5)
        finally:
            hub.detach(client)
        assert finished == ["shutdown"]


async def test_one_address_cannot_take_every_slot(live: Live) -> None:
    async with live(stream_max_per_ip=1) as (base, _, hub):
        async with sse(base) as stream:
            await stream.until("snapshot")
            async with httpx.AsyncClient(base_url=base) as http:
                refused = await http.get("/api/leaderboard/stream")
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "5"
            assert refused.headers["content-type"] == "application/problem+json"
            with pytest.raises(InvalidStatus, match="429"):
                async with websocket(base):
                    pass
        await eventually(lambda: asyncio.sleep(0, not hub.clients))
        async with sse(base) as stream:  # the address has its slot back
            await stream.until("snapshot")


async def test_no_snapshot_from_any_store_ends_the_stream_with_a_reconnect_hint() -> None:
    async def no_board() -> Event:
        raise ConnectionRefusedError("PostgreSQL and Redis are both down")

    finished: list[str] = []
    client = socketless(no_board, finished)
    client.start(None, None)
    await asyncio.wait_for(client.serve(never), 5)
    assert finished == ["unavailable"]
