"""Live streams under stress: slow consumers, a Redis restart, and two server processes sharing the stores."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.app import create_app
from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.embedded.valkey import EmbeddedValkey
from scoreboard.live.hub import Hub
from tests.accounts import player
from tests.cli.test_cli import SCOREBOARD, cli_env, wait_ready
from tests.conftest import TEST_SECRET
from tests.live.conftest import Live, award, eventually
from tests.live.streams import serving, sse, websocket, ws_event

Served = tuple[subprocess.Popen[bytes], str]


def _message(event_id: int, padding: str) -> str:
    rows = [{"rank": i + 1, "userId": f"u{i}", "score": 1000 - i, "username": padding} for i in range(100)]
    body = {"type": "score_update", "userId": "u0", "newScore": 1000, "scoreChange": 1, "actionId": "x"}
    extra = {"rank": 1, "timestamp": "2026-01-01T00:00:00Z", "leaderboard": rows, "eventId": event_id}
    return json.dumps({**body, **extra})


async def test_a_client_that_reads_nothing_stays_bounded_and_does_not_delay_others(live: Live, redis: Redis) -> None:
    settings = {"stream_client_queue": 8, "stream_stall_timeout_seconds": 2.0}
    async with live(**settings) as (base, client, hub):
        await award(client, await player(client))
        await eventually(lambda: asyncio.sleep(0, hub.last_id is not None))
        port = int(base.rsplit(":", 1)[1])
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", port))
        stuck.sendall(f"GET /api/leaderboard/stream?limit=100 HTTP/1.1\r\nHost: {port}\r\n\r\n".encode())
        async with sse(base, params={"limit": 100}) as stream:
            await stream.until("snapshot")
            await eventually(lambda: asyncio.sleep(0, len(hub.clients) == 2))
            (slow,) = [c for c in hub.clients if c.limit == 100 and c is not _newest(hub)]
            first, padding, lags, most_queued = hub.last_id or 0, "p" * 400, [], 0
            for n in range(1, 201):
                sent = time.monotonic()
                await redis.publish("leaderboard:updates", _message(first + n, padding))
                frame = await stream.until("score_update", within=2)
                lags.append(time.monotonic() - sent)
                assert frame.id == first + n
                most_queued = max(most_queued, slow.queued)
            assert max(lags) < 1.0, max(lags)
            assert most_queued <= 8
            assert slow.conflations >= 1
            # Still stuck after the stall timeout: dropped, while the reader stays connected.
            await eventually(lambda: asyncio.sleep(0, slow not in hub.clients), within=10)
            assert len(hub.clients) == 1
        stuck.close()


def _newest(hub: Hub) -> Any:
    return max(hub.clients, key=lambda c: c.connected_at)


@pytest.fixture
def own_valkey(data_dir: Path) -> Iterator[EmbeddedValkey]:
    """A Valkey of this test's own, so it can be restarted."""
    valkey = EmbeddedValkey(data_dir)
    valkey.start()
    yield valkey
    valkey.stop()


async def test_clients_get_a_snapshot_after_redis_restarts(settings: Settings, own_valkey: EmbeddedValkey) -> None:
    app = create_app(settings.model_copy(update={"redis_url": own_valkey.url()}))
    async with app.router.lifespan_context(app), serving(app) as base:
        hub: Hub = app.state.hub
        await asyncio.wait_for(hub.subscribed.wait(), 10)
        async with sse(base) as stream, websocket(base) as ws:
            await stream.until("snapshot")
            await ws_event(ws, "snapshot")
            own_valkey.stop()
            await asyncio.sleep(1.0)
            own_valkey.requested_port = own_valkey.port
            own_valkey.start()
            back = time.monotonic()
            again = await stream.until("snapshot", within=5)
            assert (await ws_event(ws, "snapshot", within=5))["type"] == "snapshot"
            assert time.monotonic() - back < 5
            assert again.data["totalPlayers"] == 0


@pytest.fixture
def two_servers(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Two `scoreboard serve` processes on different ports, sharing this test's PostgreSQL and Redis."""
    env = cli_env(
        data_dir,
        environment="test",
        database_url=str(settings.database_url),
        redis_url=str(settings.redis_url),
        jwt_secret=TEST_SECRET,
        bcrypt_rounds="4",
        stream_drain_seconds="3",
    )
    procs: list[Served] = []
    try:
        for name in ("a", "b"):
            port, log_path = free_port(), tmp_path / f"{name}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen([SCOREBOARD, "serve", "--port", str(port)], env=env, cwd=tmp_path, stderr=log)
            procs.append((proc, f"http://127.0.0.1:{port}"))
            wait_ready(proc, port, log_path)
        yield procs
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
async def test_an_award_through_one_process_reaches_clients_of_another(
    two_servers: list[Served],
) -> None:
    (_, a), (b_proc, b) = two_servers
    async with httpx.AsyncClient(base_url=a) as via_a:
        alice = await player(via_a)
        async with sse(b) as stream, websocket(b) as ws:
            await stream.until("snapshot")
            await ws_event(ws, "snapshot")
            await asyncio.sleep(0.2)
            sent = time.monotonic()
            await award(via_a, alice)
            by_sse = await stream.until("score_update", within=1)
            by_ws = await ws_event(ws, "score_update", within=1)
            assert time.monotonic() - sent < 1.0
            assert by_sse.data == by_ws
            assert (by_ws["userId"], by_ws["newScore"], by_ws["rank"]) == (str(alice.id), 10, 1)
            b_proc.send_signal(signal.SIGTERM)
            assert (await stream.until("reconnect", within=5)).data["reason"] == "shutdown"
            assert (await ws_event(ws, "reconnect", within=5))["reason"] == "shutdown"
    # With URLs configured nothing converts SIGTERM: uvicorn re-raises it after a clean shutdown.
    assert await asyncio.to_thread(b_proc.wait, 15) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
