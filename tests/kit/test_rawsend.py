"""RawSendApp's routes ahead of the framework, and when ChunkWriter may write to a socket directly."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import uvloop

from scoreboard.kit.rawsend import WRITTEN, ChunkWriter, RawSendApp, frame
from scoreboard.kit.spread import Spreader

Message = dict[str, Any]


async def _call(app: RawSendApp, method: str, path: str, root_path: str = "") -> list[Message]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _app_with_bare_route(served: list[str]) -> RawSendApp:
    app = RawSendApp()

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        assert scope["app"] is app
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.bare_routes[("GET", "/live")] = bare
    return app


@pytest.mark.parametrize(("path", "root_path"), [("/live", ""), ("/sb/live", "/sb")])
async def test_a_bare_route_serves_gets_with_or_without_a_root_path(path: str, root_path: str) -> None:
    served: list[str] = []
    sent = await _call(_app_with_bare_route(served), "GET", path, root_path)
    assert served == [path]
    assert sent[0]["status"] == 204


@pytest.mark.parametrize(("method", "path"), [("POST", "/live"), ("GET", "/live/more"), ("GET", "/elsewhere")])
async def test_other_methods_and_paths_go_through_the_framework(method: str, path: str) -> None:
    served: list[str] = []
    sent = await _call(_app_with_bare_route(served), method, path)
    assert served == []
    assert sent[0]["status"] == 404  # FastAPI's router: no route here


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
        while chunk := self.sock.recv(1 << 16):
            self.received += chunk

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
