"""Live streams under stress: slow consumers, a Redis restart, and two server processes sharing the stores."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.embedded.valkey import EmbeddedValkey
from scoreboard.live.hub import Hub
from tests.fixtures.accounts import player
from tests.fixtures.apps import running
from tests.fixtures.live import DELIVERIES, Live, award, delivery_settings, tune
from tests.fixtures.polling import eventually
from tests.fixtures.served import Service, served_env
from tests.fixtures.streams import SSE, serving, sse, websocket, ws_event


def _message(event_id: int, padding: str) -> str:
    rows = [{"rank": i + 1, "userId": f"u{i}", "score": 1000 - i, "username": padding} for i in range(100)]
    body = {"type": "score_update", "userId": "u0", "newScore": 1000, "scoreChange": 1, "actionId": "x"}
    extra = {"rank": 1, "timestamp": "2026-01-01T00:00:00Z", "leaderboard": rows, "eventId": event_id}
    return json.dumps({**body, **extra})


def _stuck_stream(base: str) -> socket.socket:
    """Open a stream from a socket with a tiny receive buffer that nobody reads (yet)."""
    port = int(base.rsplit(":", 1)[1])
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    stuck.sendall(f"GET /api/leaderboard/stream?limit=100 HTTP/1.1\r\nHost: {port}\r\n\r\n".encode())
    return stuck


async def _flood(redis: Redis, hub: Hub, reader: SSE, count: int) -> list[float]:
    """Publish `count` ~45 KB events the way awards do (counter, then message); return the reader's lags."""
    first, padding, lags = hub.last_id or 0, "p" * 400, []
    for n in range(1, count + 1):
        sent = time.monotonic()
        await redis.set("leaderboard:seq", first + n)
        await redis.publish("leaderboard:updates", _message(first + n, padding))
        frame = await reader.until("score_update", within=5)
        lags.append(time.monotonic() - sent)
        assert frame.id == first + n
    return sorted(lags)


def _server_holds(peer: socket.socket) -> bool:
    """Whether this process (which runs the server) still has the other end of `peer` open."""
    ends = (peer.getpeername(), peer.getsockname())
    return any((c.laddr, c.raddr) == ends for c in psutil.Process().net_connections(kind="tcp4") if c.raddr)


@asynccontextmanager
async def _stuck_beside_a_reader(base: str, client: httpx.AsyncClient, hub: Hub) -> AsyncIterator[tuple[Any, SSE]]:
    """A stream nobody reads (its hub client) next to one that reads everything, both with limit=100."""
    await award(client, await player(client))
    await eventually(lambda: asyncio.sleep(0, hub.last_id is not None))
    stuck = _stuck_stream(base)
    try:
        # The stuck stream is attached first, alone, so it is known for sure (not by the order of connect times).
        await eventually(lambda: asyncio.sleep(0, len(hub.clients) == 1))
        (slow,) = hub.clients
        async with sse(base, params={"limit": 100}) as reader:
            await reader.until("snapshot")
            await eventually(lambda: asyncio.sleep(0, len(hub.clients) == 2))
            yield (slow, stuck), reader
    finally:
        stuck.close()


DELIVERY = pytest.mark.parametrize("delivery", DELIVERIES)


def _chunks(received: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response, checking every chunk's framing (a torn write would break it)."""
    body, rest = b"", received.split(b"\r\n\r\n", 1)[1]
    while b"\r\n" in rest:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        if len(rest) < size + 2:
            break  # the last chunk is still on its way
        assert rest[size : size + 2] == b"\r\n", "a chunk must end where its size says"
        body, rest = body + rest[:size], rest[size + 2 :]
    return body


@DELIVERY
async def test_a_client_that_reads_nothing_stays_bounded_and_does_not_delay_others(
    live: Live, redis: Redis, delivery: str
) -> None:
    overrides = {"stream_client_queue": 8, "stream_stall_timeout_seconds": 2.0, **delivery_settings(delivery)}
    async with (
        live(**overrides) as (base, client, hub),
        _stuck_beside_a_reader(base, client, hub) as ((slow, stuck), reader),
    ):
        tune(hub, delivery)
        lags = await _flood(redis, hub, reader, 200)
        assert lags[int(len(lags) * 0.99)] < 1.0, lags[-5:]
        assert slow.conflations >= 1  # its backlog was replaced by a snapshot instead of growing
        # Still stuck after the stall timeout: dropped, while the reader stays connected.
        await eventually(lambda: asyncio.sleep(0, slow not in hub.clients), within=10)
        assert len(hub.clients) == 1
        if delivery != "portable":
            # With the accelerator, dropped means the server lets go of the connection now (it aborts the transport),
            # not once its full buffer has drained into a peer that may never read. ASGI has no way to say "abort":
            # on the portable path the server closes the socket as it closes any unfinished response (docs/live.md).
            await eventually(lambda: asyncio.sleep(0, not _server_holds(stuck)), within=5)


@DELIVERY
async def test_a_slow_client_that_catches_up_gets_a_snapshot_then_events_in_order(
    live: Live, redis: Redis, delivery: str
) -> None:
    overrides = {"stream_client_queue": 8, "stream_stall_timeout_seconds": 30.0, **delivery_settings(delivery)}
    async with (
        live(**overrides) as (base, client, hub),
        _stuck_beside_a_reader(base, client, hub) as ((slow, stuck), reader),
    ):
        tune(hub, delivery)
        await _flood(redis, hub, reader, 200)
        assert slow.conflations >= 1
        last = hub.last_id
        # Now it reads: everything it gets is in order, with a snapshot where its backlog was dropped.
        stuck.setblocking(False)
        received = b""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(15):
            while f"id: {last}\n".encode() not in received:
                received += await loop.sock_recv(stuck, 1 << 20)
    body = _chunks(received)
    frames = [(int(i), kind.decode()) for i, kind in re.findall(rb"id: (\d+)\nevent: (\w+)", body)]
    ids = [i for i, _ in frames]
    assert ids == sorted(set(ids)), "ids must strictly increase: no duplicates, no going back"
    kinds = [kind for _, kind in frames]
    assert kinds[0] == "snapshot"
    assert "snapshot" in kinds[kinds.index("score_update") :], "conflation must show as a fresh snapshot"
    assert ids[-1] == last


async def test_a_sequence_that_goes_backwards_resets_clients_to_a_snapshot(live: Live, redis: Redis) -> None:
    async with live() as (base, client, hub):
        await award(client, await player(client))
        await eventually(lambda: asyncio.sleep(0, hub.last_id is not None))
        async with sse(base) as reader:
            await reader.until("snapshot")
            # Redis comes back from an older file: its counter is lower than what clients have seen.
            await redis.set("leaderboard:seq", 100)
            await redis.publish("leaderboard:updates", _message(101, "x"))
            snapshot = await reader.event()
            assert (snapshot.event, snapshot.id) == ("snapshot", 100)
            assert (await reader.event()).id == 101
            await redis.set("leaderboard:seq", 102)
            await redis.publish("leaderboard:updates", _message(102, "x"))
            assert (await reader.event()).id == 102


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
    async with running(settings.model_copy(update={"redis_url": own_valkey.url()})) as app, serving(app) as base:
        hub = app.state["hub"]
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
def two_servers(settings: Settings, data_dir: Path, tmp_path: Path) -> Iterator[list[Service]]:
    """Two `scoreboard serve` processes on different ports, sharing this test's PostgreSQL and Redis."""
    env = served_env(settings, data_dir, stream_drain_seconds="3")
    services = [Service(env, tmp_path, free_port()) for _ in range(2)]
    try:
        for service in services:
            service.start()
        yield services
    finally:
        for service in services:
            if service.proc is not None and service.proc.poll() is None:
                service.proc.kill()
                service.proc.wait()


@pytest.mark.slow
async def test_an_award_through_one_process_reaches_clients_of_another(
    two_servers: list[Service], redis: Redis
) -> None:
    a, b = (service.base for service in two_servers)
    b_proc = two_servers[1].proc
    assert b_proc is not None
    async with httpx.AsyncClient(base_url=a) as via_a:
        alice = await player(via_a)
        async with sse(b) as stream, websocket(b) as ws, sse(b) as third, sse(b, params={"limit": 3}) as fourth:
            for opened in (stream, third, fourth):
                await opened.until("snapshot")
            await ws_event(ws, "snapshot")
            # One subscription per process, however many clients it serves.
            assert await redis.pubsub_numsub("leaderboard:updates") == [("leaderboard:updates", 2)]
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
