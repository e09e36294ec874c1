"""The portable live path under a second ASGI server (Hypercorn): nothing in it depends on uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from scoreboard.app import create_app
from scoreboard.config import Settings
from tests.fixtures.accounts import player
from tests.fixtures.streams import sse, websocket, ws_event


@pytest.fixture
async def hypercorn(settings: Settings) -> AsyncIterator[str]:
    """The app served by Hypercorn (its own lifespan, its own HTTP/1.1 and WebSocket code) on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 3
    config.accesslog = None
    stop = asyncio.Event()
    # The accelerator is asked for, and must stay out of the way: Hypercorn's `send` is not uvicorn's.
    app = create_app(settings.model_copy(update={"live_accelerator": True}))
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        async with asyncio.timeout(20):
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
    try:
        yield base
    finally:
        stop.set()
        await task


async def test_sse_snapshot_then_every_award_under_hypercorn(hypercorn: str) -> None:
    async with httpx.AsyncClient(base_url=hypercorn) as http:
        alice = await player(http)
        async with sse(hypercorn, params={"limit": 5}) as stream:
            assert (await stream.until("snapshot")).data["totalPlayers"] == 1
            ids = []
            for n in range(1, 4):
                award = await http.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
                assert award.status_code == 201, award.text
                update = await stream.until("score_update")
                assert (update.data["userId"], update.data["newScore"]) == (str(alice.id), 10 * n)
                ids.append(update.id)
            assert ids == [ids[0], ids[0] + 1, ids[0] + 2]  # every event, in order


async def test_websocket_snapshot_award_and_ping_under_hypercorn(hypercorn: str) -> None:
    async with httpx.AsyncClient(base_url=hypercorn) as http:
        alice = await player(http)
        async with websocket(hypercorn, "limit=3") as ws:
            assert (await ws_event(ws, "snapshot"))["leaderboard"] is not None
            award = await http.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
            assert award.status_code == 201, award.text
            update = await ws_event(ws, "score_update")
            assert (update["userId"], update["newScore"]) == (str(alice.id), 10)
            await ws.send("ping")
            assert (await ws_event(ws, "pong"))["type"] == "pong"


async def test_a_refused_websocket_gets_the_problem_as_its_http_answer_under_hypercorn(hypercorn: str) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        async with websocket(hypercorn, "limit=0"):
            pass
    assert refused.value.response.status_code == 422
