"""The optional live accelerator: SSE events written as pre-framed chunks straight to uvicorn's sockets.

Off by default (`SCOREBOARD_LIVE_ACCELERATOR`). Everything here leans on uvicorn's and uvloop's private objects (the
HTTP cycle behind `send`, its transport and flow control, transport class names), so it is used only with the
versions its tests cover (`TESTED`) and falls back to the portable path (live.delivery) otherwise, or for any
connection it cannot serve. What it saves per delivery, and what it costs to keep, is in docs/live.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from importlib import metadata
from itertools import compress
from operator import call, ne, or_
from typing import Any, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from scoreboard.live.client import Client
from scoreboard.live.delivery import Portable
from scoreboard.live.events import Event

log = logging.getLogger(__name__)
T = TypeVar("T")
# [lowest, first untested) per distribution: the range tests/live/test_accelerator.py ran against.
TESTED = {"uvicorn": ((0, 54, 0), (0, 55, 0)), "uvloop": ((0, 23, 0), (0, 24, 0))}
RAW_SEND = "scoreboard.raw_send"  # scope key: the server's own `send`, under every middleware's wrapper
SPREAD_FROM = 256  # streams; below this, waking a writer thread costs more than it saves (docs/performance.md)
WRITTEN, WRITTEN_FULL, FULL, GONE = range(4)  # ChunkWriter.offer's outcomes; the last two wrote nothing
FAILED = -1  # a direct write the socket refused with an error (the transport will find out)


def _version(distribution: str) -> tuple[int, ...] | None:
    try:
        text = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for part in text.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit()) or "0"
        parts.append(int(digits))
    return tuple(parts)


def unsupported() -> str | None:
    """Why the accelerator cannot run with the installed uvicorn and uvloop (None: it can)."""
    for distribution, (low, high) in TESTED.items():
        found = _version(distribution)
        if found is None or not low <= found < high:
            tested = f"{'.'.join(map(str, low))} <= {distribution} < {'.'.join(map(str, high))}"
            have = "not installed" if found is None else ".".join(map(str, found))
            return f"{distribution} {have} is outside the tested range ({tested})"
    return None


class RawSendMiddleware:
    """Record the server's own `send` in the scope, around the whole app (every middleware wraps `send` after it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def outermost(app: ASGIApp, wanted: bool) -> ASGIApp:
    """`app` as a server should run it: behind `RawSendMiddleware` when the accelerator is wanted and supported."""
    return RawSendMiddleware(app) if wanted and unsupported() is None else app


def frame(body: bytes) -> bytes:
    """`body` framed as one HTTP/1.1 chunk."""
    # An empty chunk would be the last one: it ends the response.
    return b"%x\r\n%s\r\n" % (len(body), body) if body else b""


def chunk(event: Event, limit: int) -> bytes:
    """The SSE frame of `event` for a client keeping `limit` rows, as an HTTP/1.1 chunk (made once per event)."""
    framed: bytes | None = event.extra.get(limit)
    if framed is None:
        framed = event.extra[limit] = frame(event.sized(limit).sse())
    return framed


# uvloop's TCP transport and asyncio's: both write straight to the socket when their buffer is empty, so a
# direct write in that state keeps the stream's byte order. A TLS transport wraps another and has its own name.
_PLAIN_TRANSPORTS = frozenset(
    {("uvloop.loop", "TCPTransport"), ("asyncio.selector_events", "_SelectorSocketTransport")}
)


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


class ChunkWriter:
    """Write pre-framed chunks of a started, chunked HTTP/1.1 response straight to its socket (uvicorn only)."""

    # Through the ASGI `send` each write costs a coroutine, a message dict walk and a chunk join per stream;
    # this costs one transport write of bytes framed once per event.
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
        except AttributeError:  # a uvicorn whose internals moved: the portable path still works
            return None
        return cls(cycle) if usable else None

    @property
    def paused(self) -> bool:
        """Whether the socket's buffer is over its high-water mark: wait for `drained()` before writing more."""
        return bool(self._flow.write_paused)

    def offer(self, data: bytes) -> int:
        """Write one chunk (framed by `frame`) unless the connection is gone (GONE) or its buffer is full (FULL)."""
        # Gone: lost or closing; writes are dropped, as uvicorn's `send` drops them. A peer that pipelined another
        # request before leaving marks only that newer request disconnected, hence the transport's own state.
        if self._cycle.disconnected or self._transport.is_closing():
            return GONE
        flow = self._flow
        if flow.write_paused:
            return FULL
        self._transport.write(data)
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
        return (self._fd, self._transport) if self._fd >= 0 else None

    def finish(self, data: bytes, sent: int) -> int:
        """After `sent` bytes of `data` went to `idle_fd()` directly (-1: an error), write the rest as `offer` does."""
        if sent == len(data):
            return WRITTEN
        if sent > 0:
            # Part of the chunk is on the wire: the rest must follow it, whatever the flow state.
            self._transport.write(data[sent:])
            return WRITTEN_FULL if self._flow.write_paused else WRITTEN
        # Refused whole (full, or an error the transport then meets itself and closes on): as if never tried.
        return self.offer(data)

    async def drained(self) -> None:
        """Wait until the socket takes writes again."""
        await self._flow.drain()

    def abort(self) -> None:
        """Drop the connection now, unsent bytes included (a peer that stopped reading would hold a close open)."""
        self._transport.abort()


class Spreader:
    """Run one batch of non-blocking writes on the calling thread and `threads` helpers; wait for all of them."""

    # A socket send is mostly kernel time, outside the GIL: with one thread a second core idles meanwhile.

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.jobs = 0  # how many writes were asked for (skipped descriptors too), for tests and diagnostics
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="live-write") if threads > 0 else None

    def write(self, fds: Sequence[int], chunks: Sequence[bytes]) -> list[int]:
        """Write each chunk to its descriptor at most once; return the bytes each took (0: none; -1: an error)."""
        # Parallel lists rather than pairs: a broadcast builds them with C-level passes. A negative descriptor is
        # skipped: the caller delivers that one another way.
        sent = [0] * len(fds)  # a job nobody got to stays 0: the caller hands it to its transport
        work = iter(range(len(fds)))  # shared: whichever thread is free takes the next job

        def run() -> None:
            for i in work:
                fd = fds[i]
                if fd < 0:
                    continue
                try:
                    sent[i] = os.write(fd, chunks[i])
                except BlockingIOError:
                    pass
                except OSError:
                    sent[i] = FAILED
                except Exception:  # nothing was written (os.write raises before writing): the transport will try
                    log.exception("live write to descriptor %d failed", fd)

        helpers: list[Future[None]] = []
        try:
            if self._pool is not None:
                helpers = [self._pool.submit(run) for _ in range(self.threads)]
        except RuntimeError as exc:  # shut down, or no thread to be had: this thread writes what is left
            log.warning("live writes on one thread: %s", exc)
        try:
            run()
        finally:
            # Blocks the event loop until every helper is done: the caller settles the jobs next, and no helper
            # may still be writing to these sockets then.
            wait(helpers)
        self.jobs += len(fds)
        return sent

    def close(self) -> None:
        """Stop the helper threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class DirectClient(Client):
    """A client whose events go to its socket as pre-framed chunks (ChunkWriter), on the roster while it keeps up."""

    __slots__ = ("_roster", "_writer")

    def __init__(self, *, writer: ChunkWriter, roster: Roster, **fields: Any) -> None:
        super().__init__(**fields)
        self._writer = writer
        self._roster = roster

    def _write_now(self, event: Event) -> bool:
        try:
            outcome = self._writer.offer(chunk(event, self.limit))
        except Exception:  # the connection is gone: stop serving it
            self._end()
            return True
        return self._after(event, outcome)

    def wrote(self, event: Event, data: bytes, sent: int) -> None:
        """Settle a direct write that took `sent` bytes; the rest goes through the transport."""
        try:
            outcome = self._writer.finish(data, sent)
        except Exception:  # the connection is gone: stop serving it
            self._end()
            return
        if not self._after(event, outcome):
            self.push(event)  # unreachable while nothing else ran on the loop; kept so an event is never lost

    def _after(self, event: Event, outcome: int) -> bool:
        if outcome == GONE:
            self._end()
            return True
        if outcome == FULL:
            self._backlog()
            return False
        if event.id:
            self._floor = event.id
        if outcome == WRITTEN_FULL:
            self._backlog()  # the socket is full: off the roster until it catches up
        return True

    async def _socket_ready(self) -> None:
        if self._writer.paused:
            await self._writer.drained()

    def _caught_up(self) -> None:
        parts = self._writer.direct_parts()
        if parts is not None and not self._ended:
            self._roster.enter(self, *parts)

    def _left_inline(self) -> None:
        self._roster.leave(self)

    def _abort(self) -> None:
        self._writer.abort()


class Roster:
    """Every client of a hub: those that take events directly on their sockets, as parallel lists, and the others."""

    # Which client may be written to directly is kept up to date as clients change state (`enter`, `leave`), so a
    # broadcast only checks each socket (C-level passes) and settles the exceptions.
    __slots__ = ("_at", "busy", "clients", "closing", "fds", "floor", "limits", "others", "transports")

    def __init__(self) -> None:
        self.clients: list[DirectClient] = []
        self.fds: list[int] = []
        self.limits: list[int] = []
        self.transports: list[Any] = []
        # Each transport's class's is_closing and get_write_buffer_size: shared functions, not a bound method each.
        self.closing: list[Callable[[Any], bool]] = []
        self.busy: list[Callable[[Any], int]] = []
        self.others: set[Client] = set()  # attached, not direct: pushed one by one
        # The highest event id a client had already been given (by a snapshot) when it went direct: an event
        # up to it must go through `push`, which skips what a client already has.
        self.floor = 0
        self._at: dict[Client, int] = {}

    def __len__(self) -> int:
        return len(self.clients) + len(self.others)

    def __contains__(self, client: object) -> bool:
        return client in self._at or client in self.others

    def add(self, client: Client) -> None:
        """Take an attached client; it goes direct when it `enter`s."""
        self.others.add(client)

    def remove(self, client: Client) -> None:
        """Forget a client that was detached."""
        self.leave(client)
        self.others.discard(client)

    def enter(self, client: DirectClient, fd: int, transport: Any) -> None:
        """Write events to this attached client's socket `fd` (its `transport`'s) directly from now on."""
        if client not in self.others:
            return  # detached meanwhile, or already direct
        self.others.discard(client)
        self._at[client] = len(self.clients)
        self.clients.append(client)
        self.fds.append(fd)
        self.limits.append(client.limit)
        self.transports.append(transport)
        kind = type(transport)
        self.closing.append(kind.is_closing)
        self.busy.append(kind.get_write_buffer_size)
        self.floor = max(self.floor, client.floor)

    def leave(self, client: Client) -> None:
        """Stop writing to this client directly (it lags, closes or ended); it is pushed events again."""
        at = self._at.pop(client, None)
        if at is None:
            return
        last = len(self.clients) - 1
        # The last member moves into the gap: order does not matter, and this keeps leaving O(1).
        for column in (self.clients, self.fds, self.limits, self.transports, self.closing, self.busy):
            _take(column, at)
        if at != last:
            self._at[self.clients[at]] = at
        self.others.add(client)
        if not self._at:
            self.floor = 0

    def broadcast(self, event: Event, spreader: Spreader) -> None:
        """Write `event` to every direct client's socket from `spreader`'s threads; push it to the others."""
        members, fds, count = list(self.clients), list(self.fds), len(self.clients)
        table = {limit: chunk(event, limit) for limit in set(self.limits)}
        chunks = list(map(table.__getitem__, self.limits))
        # A socket with bytes still queued in its transport (written after a partial send) must get this event
        # behind them, and a closing one may already have lost its descriptor to a new connection: both are pushed.
        closing, busy = map(call, self.closing, self.transports), map(call, self.busy, self.transports)
        refused = list(compress(range(count), map(or_, closing, busy)))
        for i in refused:
            fds[i] = -1
        for client in tuple(self.others):
            client.push(event)
        for i in refused:
            members[i].push(event)
        sent = spreader.write(fds, chunks)
        # No await since the checks: nothing else may have written to these sockets. A whole write needs nothing
        # more; a partial or refused one goes on through the client's transport.
        for i in compress(range(count), map(ne, sent, map(len, chunks))):
            if fds[i] >= 0:
                members[i].wrote(event, chunks[i], sent[i])


def _take(column: list[T], at: int) -> None:
    """Remove `column[at]`, moving the last item into its place."""
    last = column.pop()
    if at < len(column):
        column[at] = last


class Accelerator(Portable):
    """The hub's delivery when the accelerator is on: direct SSE clients on a roster, writes spread over threads."""

    def __init__(self, threads: int) -> None:
        self.roster = Roster()
        self.spreader = Spreader(threads)
        self.spread_from = SPREAD_FROM

    def client(self, scope: Scope, **fields: Any) -> Client:
        """A DirectClient for a uvicorn chunked SSE response; a portable one for anything else."""
        writer = ChunkWriter.of(scope.get(RAW_SEND)) if fields.get("kind") == "sse" else None
        if writer is None:
            return Client(**fields)
        # Events skip the middleware's wrappers: the response has started through them already.
        return DirectClient(writer=writer, roster=self.roster, **{**fields, "send": scope[RAW_SEND]})

    def attach(self, client: Client) -> None:
        """Put the client on the roster (it goes direct once caught up)."""
        self.roster.add(client)

    def detach(self, client: Client) -> None:
        """Take the client off the roster."""
        self.roster.remove(client)

    def broadcast(self, event: Event, clients: Collection[Client], everyone: bool) -> None:
        """Over many streams, write from the roster (every client) or from a pass over `clients` (heartbeats)."""
        if not self.spreader.threads or len(clients) < self.spread_from:
            super().broadcast(event, clients, everyone)
        elif everyone and event.id > self.roster.floor:
            self.roster.broadcast(event, self.spreader)
        else:  # a heartbeat slice, or a client was just given a snapshot newer than this event
            direct, fds, chunks = _direct_jobs(clients, event)
            # No await from the first direct job to the last settled: nothing else may write to these sockets.
            _settle(direct, chunks, self.spreader.write(fds, chunks), event)

    def close(self) -> None:
        """Stop the writer threads."""
        self.spreader.close()


def _direct_jobs(clients: Collection[Client], event: Event) -> tuple[list[DirectClient], list[int], list[bytes]]:
    """Pick the clients whose sockets take `event` directly, with the sockets and chunks to write; `push` the rest."""
    direct: list[DirectClient] = []
    fds: list[int] = []
    chunks: list[bytes] = []
    eid = event.id
    for client in clients:
        if not isinstance(client, DirectClient) or not client.live or (eid and eid <= client.floor):
            client.push(event)
            continue
        fd = client._writer.idle_fd()
        if fd < 0:
            client.push(event)
            continue
        direct.append(client)
        fds.append(fd)
        chunks.append(chunk(event, client.limit))
    return direct, fds, chunks


def _settle(direct: Sequence[DirectClient], chunks: Sequence[bytes], sent: Sequence[int], event: Event) -> None:
    """`wrote` for many clients; a whole write only moves the client's floor, as `wrote` would."""
    eid = event.id
    for client, data, n in zip(direct, chunks, sent, strict=True):
        if n == len(data):
            if eid:
                client._floor = eid
        else:
            client.wrote(event, data, n)
