"""One live connection: events go straight to its socket until it backs up, then through its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

from scoreboard.kit.eager import run_eagerly
from scoreboard.kit.rawsend import FULL, GONE, WRITTEN_FULL, ChunkWriter
from scoreboard.live import events
from scoreboard.live.events import Event
from scoreboard.live.roster import Roster

log = logging.getLogger(__name__)
Send = Callable[[Any], Coroutine[Any, Any, None]]
Kind = Literal["sse", "ws"]
PINGS = ("ping", '{"type":"ping"}')  # what a WebSocket client may send to get a `pong`


@dataclass(frozen=True)
class Limits:
    """How much a client may lag before it is conflated, then dropped."""

    queue: int
    stall_seconds: float
    lifetime_seconds: float
    retry_ms: int  # the reconnect hint's advice


class Stalled(Exception):
    """The client did not take a write within the stall timeout."""


class Client:
    """A subscriber of the board: the hub calls `push`; the connection's handler `serve`s until the stream ends."""

    # Slots: a process holds thousands of these.
    __slots__ = (
        "_allowance",
        "_backlogged",
        "_closing",
        "_drainer",
        "_ended",
        "_finish",
        "_floor",
        "_handler",
        "_inflight",
        "_limits",
        "_needs_snapshot",
        "_queue",
        "_roster",
        "_send",
        "_snapshot",
        "_writer",
        "conflations",
        "connected_at",
        "deadline",
        "id",
        "ip",
        "kind",
        "limit",
        "rank",
        "rank_as_of",
        "score",
        "user_id",
    )

    def __init__(
        self,
        *,
        kind: Kind,
        send: Send,
        limit: int,
        limits: Limits,
        snapshot: Callable[[], Awaitable[Event]],
        user_id: UUID | None = None,
        ip: str | None = None,
        writer: ChunkWriter | None = None,
        finish: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.id = uuid4()
        self.ip = ip
        self.kind = kind
        self.limit = limit
        self.user_id = user_id
        self.connected_at = time.time()
        # Jitter, so streams opened together (after a deploy) do not all reconnect at the same moment.
        self.deadline = time.monotonic() + limits.lifetime_seconds * random.uniform(0.9, 1.0)  # noqa: S311
        self.rank: int | None = None  # this user's rank and score as last told, for my_rank events
        self.score: int | None = None
        self.rank_as_of = 0  # the last event id that rank and score reflect
        self.conflations = 0
        self._send = send
        self._writer = writer  # SSE on uvicorn: events skip `send` and go to the socket as pre-framed chunks
        self._finish = finish  # None: an SSE stream, whose last chunk is the reconnect hint
        self._limits = limits
        self._snapshot = snapshot
        # Created only when needed: a deque costs ~750 bytes, and most clients never queue anything.
        self._queue: deque[Event] | None = None
        self._needs_snapshot = False
        self._backlogged = True  # until its opening events are out, everything goes through the queue
        self._inflight: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None  # exists only while the client lags or is closing
        self._handler: asyncio.Task[Any] | None = None
        # Events up to this id are not sent: a snapshot or the opening replay covered them, or they were delivered
        # (a roster's whole writes are not recorded here: every later event has a higher id anyway).
        self._floor = 0
        self._roster: Roster | None = None  # the hub's, while attached
        self._allowance = 0  # extra queue room for an opening replay, which may be longer than the queue
        self._closing: str | None = None
        self._ended = False

    @property
    def writes_directly(self) -> bool:
        """Whether events reach this client's socket without going through the ASGI `send`."""
        return self._writer is not None

    @property
    def floor(self) -> int:
        """Events up to this id are not sent to this client."""
        return self._floor

    def start(self, replay: list[Event] | None, last_event_id: int | None, roster: Roster | None = None) -> None:
        """Open with the missed events when they are all held, else with a snapshot; join `roster` once caught up."""
        self._roster = roster
        if replay is not None and last_event_id is not None:
            self._floor = last_event_id
            self._queue = deque(replay)
            self._allowance = len(replay)
        else:
            self._needs_snapshot = True
        self._kick()

    def push(self, event: Event) -> None:
        """Deliver now if the socket takes it without waiting; otherwise queue it, conflating when full."""
        if self._closing is not None or (event.id and event.id <= self._floor):
            return
        if not self._backlogged and self._write_now(event):
            return
        if self._queue is None:
            self._queue = deque()
        if len(self._queue) >= self._limits.queue + self._allowance:
            # The client lags: what it needs is the latest state, not the backlog.
            self._queue.clear()
            self._needs_snapshot = True
            self.conflations += 1
            self.rank = None  # a my_rank may have been dropped: the next rank check resends it
        else:
            self._queue.append(event)

    def _write_now(self, event: Event) -> bool:
        """Write `event` on the broadcaster's path; False when the socket is full and it must be queued."""
        writer = self._writer
        if writer is None:
            return self._send_now(event)
        try:
            outcome = writer.offer(event.chunk(self.limit))
        except Exception:  # the connection is gone: stop serving it
            self._end()
            return True
        return self._after(event, outcome)

    def wrote(self, event: Event, chunk: bytes, sent: int) -> None:
        """Settle a direct write (see `direct_jobs`) that took `sent` bytes; the rest goes through the transport."""
        assert self._writer is not None
        try:
            outcome = self._writer.finish(chunk, sent)
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
            # The socket is full: take this client off the broadcaster's path until it catches up.
            self._backlog()
        return True

    def _send_now(self, event: Event) -> bool:
        """Run the ASGI `send` of `event` as far as it goes without waiting (WebSocket, or another server)."""
        try:
            task = run_eagerly(self._send(event.message(self.kind, self.limit)))
        except Exception:  # the connection is gone: stop serving it
            self._end()
            return True
        if event.id:
            self._floor = event.id
        if task is not None:
            self._backlog(task)  # the socket is full: off the broadcaster's path until it catches up
        return True

    def _backlog(self, inflight: asyncio.Task[None] | None = None) -> None:
        """Send everything through the drainer (after `inflight`, a write still under way) until it catches up."""
        if inflight is not None:
            self._inflight = inflight
        if self._roster is not None:
            self._roster.leave(self)
        self._backlogged = True
        self._kick()

    def resnapshot(self) -> None:
        """Drop what is queued and send the board afresh (after the event stream had a gap)."""
        if self._closing is None:
            self._queue = None
            # The sequence may have restarted lower (Redis restored from an older file): the snapshot's id rules.
            self._floor = 0
            self._needs_snapshot = True
            self._backlog()

    def close(self, reason: str) -> None:
        """End the stream with a reconnect hint once what is in flight is out."""
        if self._closing is None:
            self._closing = reason
            self._backlog()

    async def serve(self, receive: Callable[[], Awaitable[Any]]) -> None:
        """Run in the connection's handler: read the peer's ASGI messages until it leaves or we end the stream."""
        self._handler = asyncio.current_task()
        try:
            while not self._ended:
                message = await receive()
                kind = message["type"]
                if kind == "http.disconnect" or kind == "websocket.disconnect":
                    break
                if message.get("text") in PINGS:
                    self.push(Event.build("pong"))
        except asyncio.CancelledError:
            if not self._ended:
                raise
            asyncio.current_task().uncancel()  # type: ignore[union-attr]  # we cancelled ourselves: done
        finally:
            self._handler = None
            self._closing = self._closing or "lost"
            self._ended = True
            if self._roster is not None:
                self._roster.leave(self)
            for task in (self._inflight, self._drainer):
                if task is not None and task is not asyncio.current_task():
                    task.cancel()

    def _end(self) -> None:
        """Stop serving: the handler stops waiting for the peer (the server then closes the socket)."""
        if not self._ended:
            self._ended = True
            self._closing = self._closing or "ended"
            if self._roster is not None:
                self._roster.leave(self)
            if self._handler is not None and self._handler is not asyncio.current_task():
                self._handler.cancel()

    def _kick(self) -> None:
        if self._drainer is None and not self._ended:
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            if self._inflight is not None:
                inflight, self._inflight = self._inflight, None
                await self._bounded(inflight)
            if self._writer is not None and self._writer.paused:
                await self._bounded(self._writer.drained())
            while self._needs_snapshot or self._queue:
                if self._needs_snapshot:
                    self._needs_snapshot = False
                    try:
                        event = await self._snapshot()
                    except Exception as exc:  # neither Redis nor PostgreSQL could say what the board is
                        log.warning("live client %s: no snapshot (%r); asking it to reconnect", self.id, exc)
                        self._closing, self._queue = self._closing or "unavailable", None
                        break
                    if self._needs_snapshot:
                        continue  # asked for again during the read (the events had a gap): this one may be older
                    self._floor = max(self._floor, event.id)
                else:
                    assert self._queue is not None
                    event = self._queue.popleft()
                    if event.id and event.id <= self._floor:
                        continue  # covered by a snapshot sent since it was queued
                    self._floor = max(self._floor, event.id)
                await self._bounded(self._send(event.message(self.kind, self.limit)))
            self._queue = None
            self._allowance = 0
            if self._closing is not None:
                await self._bounded(self._last_words(self._closing))
                self._end()
            else:
                self._backlogged = False
                self._go_direct()
        except Stalled:
            log.warning("live client %s stalled for %ss; disconnected", self.id, self._limits.stall_seconds)
            if self._writer is not None:
                self._writer.abort()
            self._end()
        except Exception as exc:  # the socket went away under a write
            log.debug("live client %s ended: %r", self.id, exc)
            self._end()
        finally:
            self._drainer = None

    def _go_direct(self) -> None:
        """Caught up: from now on the hub may write events straight to the socket (see Roster)."""
        parts = self._writer.direct_parts() if self._writer is not None else None
        if parts is not None and self._roster is not None and not self._ended:
            self._roster.enter(self, *parts)

    def _last_words(self, reason: str) -> Awaitable[None]:
        if self._finish is not None:
            return self._finish(reason)
        hint = events.reconnect(reason, self._limits.retry_ms)
        return self._send({"type": "http.response.body", "body": hint.sse(), "more_body": False})

    async def _bounded(self, step: Awaitable[None]) -> None:
        try:
            async with asyncio.timeout(self._limits.stall_seconds):
                await step
        except TimeoutError:
            raise Stalled from None


def direct_jobs(clients: Iterable[Client], event: Event) -> tuple[list[Client], list[int], list[bytes]]:
    """Pick the clients whose sockets take `event` directly, with the sockets and chunks to write; `push` the rest."""
    # Heartbeats, and events when the roster cannot serve (see Roster): one function with no per-client call but
    # the socket's check. Direct: a plain transport with nothing buffered (ChunkWriter.idle_fd), and a client
    # that is not catching up, closing, or already past this event.
    direct: list[Client] = []
    fds: list[int] = []
    chunks: list[bytes] = []
    eid = event.id
    table: dict[int, bytes] = {}
    for client in clients:
        writer = client._writer
        fd = -1
        if (
            writer is not None
            and not client._backlogged
            and client._closing is None
            and not (eid and eid <= client._floor)
        ):
            fd = writer.idle_fd()
        if fd < 0:
            client.push(event)
            continue
        limit = client.limit
        chunk = table.get(limit)
        if chunk is None:
            chunk = table[limit] = event.chunk(limit)
        direct.append(client)
        fds.append(fd)
        chunks.append(chunk)
    return direct, fds, chunks


def settle(direct: Sequence[Client], chunks: Sequence[bytes], sent: Sequence[int], event: Event) -> None:
    """`wrote` for many clients; a whole write only moves the client's floor, as `wrote` would."""
    eid = event.id
    for client, chunk, n in zip(direct, chunks, sent, strict=True):
        if n == len(chunk):
            if eid:
                client._floor = eid
        else:
            client.wrote(event, chunk, n)
