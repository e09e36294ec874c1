"""The live accelerator: when it runs, when a socket may be written directly, the writer threads, the roster."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop
from fastapi import FastAPI
from redis.asyncio import Redis

from scoreboard.app import create_server_app
from scoreboard.config import Settings
from scoreboard.live import accelerator as accelerator_module
from scoreboard.live.accelerator import FAILED, WRITTEN, Accelerator, ChunkWriter, Spreader, chunk, frame, unsupported
from scoreboard.live.delivery import Portable
from scoreboard.live.hub import Hub
from tests.fixtures.accounts import player
from tests.fixtures.apps import running
from tests.fixtures.collector import restored_collector
from tests.fixtures.live import Live, award
from tests.fixtures.polling import eventually
from tests.fixtures.sockets import attached, update
from tests.fixtures.streams import sse

Message = dict[str, Any]


def _accelerator(hub: Hub) -> Accelerator:
    """The hub's accelerator, writing from threads even for one stream."""
    assert isinstance(hub.delivery, Accelerator)
    hub.delivery.spread_from = 1
    return hub.delivery


def test_the_installed_uvicorn_and_uvloop_are_in_the_tested_range() -> None:
    # pyproject bounds uvicorn to this range; a failure here means the bound and TESTED disagree.
    assert unsupported() is None


def test_pyproject_bounds_uvicorn_and_uvloop_to_the_tested_range() -> None:
    """A lock upgrade cannot move either package out of the range the accelerator's contract tests cover."""
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    bounds = {}
    for requirement in project["project"]["dependencies"]:
        found = re.match(r"([a-z0-9_-]+)(?:\[[^]]*\])?>=([0-9.]+),<([0-9.]+)", requirement)
        if found:
            bounds[found[1]] = (found[2], found[3])
    for name, (lowest, first_untested) in accelerator_module.TESTED.items():
        as_text = tuple(".".join(map(str, version)).removesuffix(".0") for version in (lowest, first_untested))
        assert bounds.get(name) == as_text, f"pyproject's bound on {name} is not TESTED's {as_text}"


def test_outside_the_tested_range_the_reason_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(accelerator_module.TESTED, "uvicorn", ((0, 1, 0), (0, 2, 0)))
    reason = unsupported()
    assert reason is not None
    assert reason.startswith("uvicorn ")
    assert "0.1.0 <= uvicorn < 0.2.0" in reason


async def test_asked_for_outside_the_tested_range_the_app_warns_once_and_stays_portable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(accelerator_module.TESTED, "uvloop", ((0, 1, 0), (0, 2, 0)))
    with caplog.at_level(logging.WARNING, logger="scoreboard"):
        async with running(settings.model_copy(update={"live_accelerator": True})) as app:
            assert type(app.state["hub"].delivery) is Portable
    warnings = [r.getMessage() for r in caplog.records if "accelerator" in r.getMessage()]
    assert len(warnings) == 1
    assert "uvloop" in warnings[0]
    assert "portable" in warnings[0]


async def test_off_by_default_and_on_when_asked_for(settings: Settings) -> None:
    async with running(settings) as app:
        assert type(app.state["hub"].delivery) is Portable
    async with running(settings.model_copy(update={"live_accelerator": True})) as app:
        assert isinstance(app.state["hub"].delivery, Accelerator)
    with restored_collector():  # create_server_app readies the process's collector for serving
        assert isinstance(create_server_app(settings), FastAPI)
        on = create_server_app(settings.model_copy(update={"live_accelerator": True}))
    assert isinstance(on, accelerator_module.RawSendMiddleware)


async def test_the_chunk_writer_is_only_for_uvicorns_httptools_cycle() -> None:
    async def send(message: Message) -> None:
        pass

    class LooksLikeACycle:
        chunked_encoding, response_started, response_complete, disconnected = True, True, False, False

        async def send(self, message: Message) -> None:
            pass

    assert ChunkWriter.of(send) is None  # a plain function
    assert ChunkWriter.of(LooksLikeACycle().send) is None  # the right attributes, but not uvicorn's class


def test_a_frame_is_one_http_chunk_and_an_empty_body_is_no_chunk() -> None:
    assert frame(b"data: x\n\n") == b"9\r\ndata: x\n\n\r\n"
    assert frame(b"") == b""  # an empty chunk would end the response


class _Peer:
    """The far end of a TCP connection, reading everything in a thread (while the event loop may be blocked)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(address)
        self.received = bytearray()
        self._reader = threading.Thread(target=self._read)

    def start_reading(self) -> None:
        self._reader.start()

    def _read(self) -> None:
        while data := self.sock.recv(1 << 16):
            self.received += data

    def finish(self) -> bytes:
        self._reader.join(10)
        self.sock.close()
        return bytes(self.received)


async def _direct_writes_keep_the_byte_order() -> None:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0)
    peer = _Peer(server.sockets[0].getsockname()[:2])
    transport = await accepted
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    cycle = SimpleNamespace(transport=transport, flow=SimpleNamespace(write_paused=False), disconnected=False)
    writer, spreader, expected = ChunkWriter(cycle), Spreader(1), b""
    try:
        fd = writer.idle_fd()
        assert fd >= 0
        # More than the socket takes: a part goes directly, the rest through the transport, right behind it.
        big = bytes(range(256)) * 8192
        (sent,) = spreader.write([fd], [big])
        assert 0 < sent < len(big)
        assert writer.finish(big, sent) == WRITTEN
        expected += big
        # The peer drains the kernel's buffer while the loop stands still: the transport still holds bytes, so a
        # direct write now would overtake them.
        peer.start_reading()
        time.sleep(0.3)  # noqa: ASYNC251 - the point: the loop must not run while the peer reads
        assert transport.get_write_buffer_size() > 0
        assert writer.idle_fd() == -1
        assert writer.offer(b"after the rest") == WRITTEN
        expected += b"after the rest"
        async with asyncio.timeout(10):
            while transport.get_write_buffer_size():  # noqa: ASYNC110 - polling the transport's own count
                await asyncio.sleep(0.01)
        # Drained: direct writes again, in order.
        assert writer.idle_fd() == fd
        assert spreader.write([fd], [b"direct again"]) == [len(b"direct again")]
        assert writer.finish(b"direct again", len(b"direct again")) == WRITTEN
        expected += b"direct again"
        # Paused, disconnected or closing: never written directly.
        cycle.flow.write_paused = True
        assert writer.idle_fd() == -1
        cycle.flow.write_paused, cycle.disconnected = False, True
        assert writer.idle_fd() == -1
        cycle.disconnected = False
        transport.close()
        assert writer.idle_fd() == -1
    finally:
        spreader.close()
        transport.close()
        server.close()
    await asyncio.sleep(0.1)
    assert peer.finish() == expected


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_direct_writes_never_overtake_what_the_transport_holds(run: Callable[[Any], None]) -> None:
    run(_direct_writes_keep_the_byte_order())


def test_only_plain_tcp_transports_are_written_directly() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=left)  # a Unix socket's transport
        try:
            cycle = SimpleNamespace(transport=transport, flow=SimpleNamespace(write_paused=False), disconnected=False)
            assert ChunkWriter(cycle).idle_fd() == -1
        finally:
            transport.close()
            right.close()

    uvloop.run(scenario())


@pytest.fixture
def pairs() -> Iterator[list[tuple[socket.socket, socket.socket]]]:
    made = [socket.socketpair() for _ in range(300)]
    for ours, _ in made:
        ours.setblocking(False)
    yield made
    for ours, theirs in made:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_every_socket_gets_its_own_chunk_once(pairs: list[tuple[socket.socket, socket.socket]], threads: int) -> None:
    spreader = Spreader(threads)
    try:
        chunks = [f"chunk {i}\n".encode() for i in range(len(pairs))]
        sent = spreader.write([ours.fileno() for ours, _ in pairs], chunks)
    finally:
        spreader.close()
    assert sent == [len(chunk) for chunk in chunks]
    assert [theirs.recv(100) for _, theirs in pairs] == chunks


def test_a_full_socket_takes_part_or_nothing_and_a_closed_one_fails() -> None:
    (full, full_peer), (gone, gone_peer), (fine, fine_peer) = (socket.socketpair() for _ in range(3))
    for ours in (full, gone, fine):
        ours.setblocking(False)
    try:
        while True:  # fill `full` until the kernel refuses more
            try:
                full.send(b"x" * 65536)
            except BlockingIOError:
                break
        gone_peer.close()
        spreader = Spreader(1)
        big = b"y" * 1_000_000
        try:
            sent = spreader.write([full.fileno(), gone.fileno(), fine.fileno()], [big, b"z", b"ok"])
        finally:
            spreader.close()
        assert 0 <= sent[0] < len(big)  # it would block: nothing or a part, never an error
        assert sent[1] == FAILED
        assert sent[2] == 2
        assert fine_peer.recv(10) == b"ok"
    finally:
        for s in (full, full_peer, gone, fine, fine_peer):
            s.close()


@pytest.mark.parametrize("threads", [0, 1])
def test_a_negative_descriptor_is_skipped(pairs: list[tuple[socket.socket, socket.socket]], threads: int) -> None:
    (one, one_peer), (two, two_peer) = pairs[:2]
    spreader = Spreader(threads)
    try:
        sent = spreader.write([one.fileno(), -1, two.fileno()], [b"a", b"skipped", b"b"])
    finally:
        spreader.close()
    assert sent == [1, 0, 1]
    assert (one_peer.recv(10), two_peer.recv(10)) == (b"a", b"b")


async def test_caught_up_clients_go_direct_and_leave_when_they_close_or_are_removed() -> None:
    async with attached(3) as streams:
        roster, (one, two, three) = streams.roster, streams.clients
        assert set(roster.clients) == {one, two, three}
        assert roster.fds == [t.get_extra_info("socket").fileno() for t in streams.transports]
        one.close("shutdown")
        assert set(roster.clients) == {two, three}
        assert one in roster.others
        roster.remove(two)
        assert roster.clients == [three]
        assert roster.fds == [streams.transports[2].get_extra_info("socket").fileno()]
        assert two not in roster
        assert len(roster) == 2


async def test_a_broadcast_writes_each_socket_once_and_pushes_the_others() -> None:
    async with attached(3) as streams:
        roster, spreader = streams.roster, Spreader(1)
        lagging = streams.clients[2]
        lagging.close("lifetime")  # off the roster: the event reaches it through push (it is closing: dropped)
        try:
            roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        framed = chunk(update(1), 10)
        received = [streams.read(peer) for peer in streams.peers]
        assert received[0].endswith(framed)
        assert received[1].endswith(framed)
        assert received[0].count(b"event: score_update") == received[1].count(b"event: score_update") == 1
        assert b"score_update" not in received[2]


async def test_bytes_still_in_a_transport_go_out_before_the_event() -> None:
    async with attached(2) as streams:
        (busy, idle), (busy_transport, _), (busy_peer, idle_peer) = streams.clients, streams.transports, streams.peers
        streams.read(busy_peer)  # the opening snapshot
        backlog = bytes(range(256)) * 4096  # far more than the socket holds: the transport keeps the rest
        busy_transport.write(backlog)
        assert busy_transport.get_write_buffer_size() > 0
        assert busy in streams.roster.clients  # nothing told the roster: the broadcast itself must notice
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        framed = chunk(update(1), 10)
        received = b""
        async with asyncio.timeout(10):
            while not received.endswith(framed):
                received += streams.read(busy_peer)
                await asyncio.sleep(0.01)
        assert received == backlog + framed
        assert streams.read(idle_peer).endswith(framed)
        assert idle in streams.roster.clients


async def test_a_closing_socket_is_never_written_directly() -> None:
    async with attached(2) as streams:
        (gone, kept), (gone_transport, _) = streams.clients, streams.transports
        streams.read(streams.peers[0])
        gone_transport.close()  # its descriptor may be another connection's by the time the hub hears of it
        spreader = Spreader(1)
        try:
            streams.roster.broadcast(update(1), spreader)
        finally:
            spreader.close()
        await asyncio.sleep(0.1)
        assert streams.read(streams.peers[0]) == b""
        assert gone not in streams.roster.clients  # it found out on the way: ended
        assert kept in streams.roster.clients
        assert streams.read(streams.peers[1]).endswith(chunk(update(1), 10))


async def test_a_stream_goes_direct_after_its_snapshot_and_off_the_roster_when_it_ends(live: Live) -> None:
    async with live(live_accelerator=True) as (base, client, hub):
        accelerator = _accelerator(hub)
        alice = await player(client)
        async with sse(base) as stream:
            await stream.until("snapshot")
            await eventually(lambda: asyncio.sleep(0, len(accelerator.roster.clients) == 1))
            written = accelerator.spreader.jobs
            body = await award(client, alice)
            update = await stream.until("score_update")
            assert (update.data["newScore"], update.id) == (body["newScore"], hub.last_id)
            assert accelerator.spreader.jobs == written + 1
        await eventually(lambda: asyncio.sleep(0, not hub.clients and len(accelerator.roster) == 0))


async def test_an_event_a_stream_has_from_its_snapshot_is_not_sent_again(live: Live, redis: Redis) -> None:
    async with live(live_accelerator=True) as (base, client, hub):
        accelerator = _accelerator(hub)
        await award(client, await player(client))
        await eventually(lambda: asyncio.sleep(0, hub.last_id is not None))
        assert hub.last_id is not None
        ahead = hub.last_id + 1
        # An award Redis has applied but whose message has not arrived yet: a new stream's snapshot includes it.
        await redis.set("leaderboard:seq", ahead)
        async with sse(base) as stream:
            assert (await stream.until("snapshot")).id == ahead
            await eventually(lambda: asyncio.sleep(0, accelerator.roster.floor == ahead))
            for event_id in (ahead, ahead + 1):
                await redis.set("leaderboard:seq", event_id)
                await redis.publish("leaderboard:updates", update(event_id).text)
            assert (await stream.until("score_update")).id == ahead + 1
