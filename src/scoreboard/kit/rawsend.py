"""Requests outside the framework's layers: the server's own `send` for streams, and routes served before routing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "scoreboard.raw_send"


class RawSendApp(FastAPI):
    """A FastAPI app that hands streaming endpoints the server's `send` and can serve some routes before routing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (method, path) -> ASGI app for requests that skip the middleware stack and routing. A stream's request
        # lives as long as the stream; each framework layer keeps its frames, scope copies and exit stacks alive
        # for that long (~12 KB per stream), which at 10,000 streams is most of a process's memory. The award,
        # the hottest route, spends a quarter of its CPU in those layers and the dependency solver.
        # Each bare route keeps a documented APIRoute that serves the same request (by `Delegate`, or over the
        # same functions) where the router is mounted without this class. Bare routes skip every middleware.
        self.bare_routes: dict[tuple[str, str], ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, root = scope["path"], scope.get("root_path", "")
            route = (scope["method"], path[len(root) :] if root and path.startswith(root) else path)
            bare = self.bare_routes.get(route)
            if bare is not None:
                scope["app"] = self
                await bare(scope, receive, send)
                return
        # Each layer (error middleware, exception handlers, routes) wraps `send` in a coroutine of its own; a
        # broadcaster writing one event to 10,000 streams would pay for every layer 10,000 times. Streams start
        # through the wrapped `send`, so the layers see a normal response begin.
        scope[SCOPE_KEY] = send
        await super().__call__(scope, receive, send)


class Delegate(Response):
    """A response that hands the request to an ASGI app: a documented route's way to serve as its bare route."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


WRITTEN, WRITTEN_FULL, FULL, GONE = range(4)  # ChunkWriter.offer's outcomes; the last two wrote nothing


class ChunkWriter:
    """Write pre-framed chunks of a started, chunked HTTP/1.1 response straight to its socket (uvicorn only)."""

    # The broadcaster's hot path: one event to 10,000 streams. Through the ASGI `send` each write costs a coroutine,
    # a message dict walk and a chunk join per stream; this costs one transport write of bytes framed once per event.
    __slots__ = ("_cycle", "_fd", "_flow", "_transport")

    def __init__(self, cycle: Any) -> None:
        self._cycle = cycle
        # All three belong to the connection and outlive the response: looked up once, not once per event.
        self._transport = cycle.transport
        self._flow = cycle.flow
        self._fd = _plain_fd(cycle.transport)

    @classmethod
    def of(cls, send: Any) -> ChunkWriter | None:
        """A writer for the response behind the server's `send`, or None when that is not a uvicorn chunked one."""
        cycle: Any = getattr(send, "__self__", None)
        if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl":
            return None
        try:
            usable = (
                cycle.chunked_encoding is True
                and cycle.response_started is True
                and cycle.response_complete is False
                and isinstance(cycle.disconnected, bool)
                and isinstance(cycle.flow.write_paused, bool)
                and callable(cycle.transport.write)
            )
        except AttributeError:  # another server, or a uvicorn whose internals moved: the ASGI path still works
            return None
        return cls(cycle) if usable else None

    @property
    def paused(self) -> bool:
        """Whether the socket's buffer is over its high-water mark: wait for `drained()` before writing more."""
        return bool(self._flow.write_paused)

    def offer(self, chunk: bytes) -> int:
        """Write one chunk (framed by `frame`) unless the connection is gone (GONE) or its buffer is full (FULL)."""
        # Gone: lost or closing; writes are dropped, as uvicorn's `send` drops them. A peer that pipelined another
        # request before leaving marks only that newer request disconnected, hence the transport's own state.
        if self._cycle.disconnected or self._transport.is_closing():
            return GONE
        flow = self._flow
        if flow.write_paused:
            return FULL
        self._transport.write(chunk)
        return WRITTEN_FULL if flow.write_paused else WRITTEN

    def idle_fd(self) -> int:
        """The socket's descriptor when a chunk may go to it directly (nothing buffered, plain TCP), else -1."""
        # Bytes written past the transport are safe only while it holds none of its own and nothing else runs
        # on the loop: the caller writes and then calls `finish` without yielding to the loop in between.
        if (
            self._fd < 0
            or self._cycle.disconnected
            or self._flow.write_paused
            or self._transport.is_closing()
            or self._transport.get_write_buffer_size()
        ):
            return -1
        return self._fd

    def direct_parts(self) -> tuple[int, Any] | None:
        """The socket's descriptor and its transport, for a Roster; None when chunks may never go to it directly."""
        # A Roster checks the transport's `is_closing` and `get_write_buffer_size` before each direct write. They
        # imply `idle_fd`'s other checks: uvicorn marks a cycle disconnected only in `connection_lost`, after the
        # transport began closing, and a transport with an empty buffer has resumed writing (uvloop and asyncio
        # resume at or below the low-water mark).
        if self._fd < 0:
            return None
        return self._fd, self._transport

    def finish(self, chunk: bytes, sent: int) -> int:
        """After `sent` bytes of `chunk` went to `idle_fd()` directly (-1: an error), write the rest as `offer` does."""
        if sent == len(chunk):
            return WRITTEN
        if sent > 0:
            # Part of the chunk is on the wire: the rest must follow it, whatever the flow state.
            self._transport.write(chunk[sent:])
            return WRITTEN_FULL if self._flow.write_paused else WRITTEN
        # Refused whole (full, or an error the transport then meets itself and closes on): as if never tried.
        return self.offer(chunk)

    async def drained(self) -> None:
        """Wait until the socket takes writes again."""
        await self._flow.drain()

    def abort(self) -> None:
        """Drop the connection now, unsent bytes included (a peer that stopped reading would hold a close open)."""
        self._transport.abort()


def _plain_fd(transport: Any) -> int:
    """The descriptor of a plain TCP transport of uvloop or asyncio; -1 for anything else (TLS, pipes, tests)."""
    kind = type(transport)
    if (kind.__module__, kind.__name__) not in _PLAIN_TRANSPORTS or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1


# uvloop's TCP transport and asyncio's: both write straight to the socket when their buffer is empty, so a
# direct write in that state keeps the stream's byte order. A TLS transport wraps another and has its own name.
_PLAIN_TRANSPORTS = frozenset(
    {("uvloop.loop", "TCPTransport"), ("asyncio.selector_events", "_SelectorSocketTransport")}
)


def frame(body: bytes) -> bytes:
    """`body` framed as one HTTP/1.1 chunk."""
    # An empty chunk would be the last one: it ends the response.
    return b"%x\r\n%s\r\n" % (len(body), body) if body else b""
