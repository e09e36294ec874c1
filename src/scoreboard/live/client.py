"""One live connection: events go out inline while its socket keeps up, then through its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

from scoreboard.kit import metrics
from scoreboard.kit.inline import run_inline
from scoreboard.live import events
from scoreboard.live.events import Event

log = logging.getLogger(__name__)
Send = Callable[[Any], Coroutine[Any, Any, None]]
Kind = Literal["sse", "ws"]
# Queued by `then_snapshot`: where the drainer takes a snapshot (from the new source), after what was queued before.
SNAPSHOT_DUE = Event(0, "snapshot_due", {})
PINGS = ("ping", '{"type":"ping"}')  # what a WebSocket client may send to get a `pong`
# The clients an event goes to, as a dict used as an ordered set: a broadcast walks them in the order they connected,
# which is the order their objects (and their server's) were made in memory. A set's hash order scatters the walk
# over the heap, and each delivery then waits on the cache (docs/performance.md, "Walking clients in order").
Clients = dict["Client", None]


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
        "_send",
        "_snapshot",
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
        self._send = send  # the connection's ASGI `send`
        self._finish = finish  # None: an SSE stream, whose last chunk is the reconnect hint
        self._limits = limits
        self._snapshot = snapshot
        # Created only when needed: an empty deque is not small, and most clients never queue anything.
        self._queue: deque[Event] | None = None
        self._needs_snapshot = False
        self._backlogged = True  # until its opening events are out, everything goes through the queue
        self._inflight: asyncio.Task[None] | None = None
        self._drainer: asyncio.Task[None] | None = None  # exists only while the client lags or is closing
        self._handler: asyncio.Task[Any] | None = None
        # Events up to this id are not sent: a snapshot or the opening replay covered them, or they were delivered.
        self._floor = 0
        self._allowance = 0  # extra queue room for an opening replay, which may be longer than the queue
        self._closing: str | None = None
        self._ended = False

    @property
    def floor(self) -> int:
        """Events up to this id are not sent to this client."""
        return self._floor

    @property
    def live(self) -> bool:
        """Whether events may go out to this client inline now (caught up, not closing, not ended)."""
        return not self._backlogged and self._closing is None

    def start(self, replay: list[Event] | None, last_event_id: int | None) -> None:
        """Open with the missed events when they are all held, else with a snapshot."""
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
            metrics.LIVE_CONFLATED.inc()
            self.rank = None  # a my_rank may have been dropped: the next rank check resends it
        else:
            self._queue.append(event)

    def _write_now(self, event: Event) -> bool:
        """Run the ASGI `send` of `event` as far as it goes without waiting; False: it must be queued instead."""
        try:
            task = run_inline(self._send(event.message(self.kind, self.limit)))
        except Exception:  # the connection is gone: stop serving it
            self._end()
            return True
        if event.id:
            self._floor = event.id
        if task is not None:
            self._backlog(task)  # the socket is full: events queue until it catches up
        return True

    def _backlog(self, inflight: asyncio.Task[None] | None = None) -> None:
        """Send everything through the drainer (after `inflight`, a write still under way) until it catches up."""
        if inflight is not None:
            self._inflight = inflight
        self._backlogged = True
        self._left_inline()
        self._kick()

    def resnapshot(self) -> None:
        """Drop what is queued and send the board afresh (after the event stream had a gap)."""
        if self._closing is None:
            self._queue = None
            # The sequence may have restarted lower (Redis restored from an older file): the snapshot's id rules.
            self._floor = 0
            self._needs_snapshot = True
            self._backlog()

    def then_snapshot(self, snapshot: Callable[[], Awaitable[Event]]) -> None:
        """After what is on its way (a period's end), send a snapshot from `snapshot`, its source from now on."""
        if self._closing is not None:
            return
        self._snapshot = snapshot
        if self._needs_snapshot:  # nothing of the old source was sent yet: the new snapshot alone is its state
            self._queue = None
        elif self._queue:  # behind the queued events: the snapshot must not overtake them
            self._queue.append(SNAPSHOT_DUE)
        else:
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
            self._left_inline()
            for task in (self._inflight, self._drainer):
                if task is not None and task is not asyncio.current_task():
                    task.cancel()

    def _end(self) -> None:
        """Stop serving: the handler stops waiting for the peer (the server then closes the socket)."""
        if not self._ended:
            self._ended = True
            self._closing = self._closing or "ended"
            self._left_inline()
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
            await self._bounded(self._socket_ready())
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
                    if event is SNAPSHOT_DUE:
                        self._needs_snapshot = True
                        continue
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
                self._caught_up()
        except Stalled:
            log.warning("live client %s stalled for %ss; disconnected", self.id, self._limits.stall_seconds)
            metrics.LIVE_DROPPED.inc()
            self._abort()
            self._end()
        except Exception as exc:  # the socket went away under a write
            log.debug("live client %s ended: %r", self.id, exc)
            self._end()
        finally:
            self._drainer = None

    # What a faster way to the socket (see live.accelerator) changes; the ASGI `send` needs none of it.

    async def _socket_ready(self) -> None:
        """Wait until the socket takes writes again (the ASGI `send` waits by itself)."""

    def _caught_up(self) -> None:
        """The queue is empty and events go out inline again."""

    def _left_inline(self) -> None:
        """Events no longer go out inline (the client lags, closes or ended)."""

    def _abort(self) -> None:
        """Drop a stalled connection (the ASGI server closes it once the handler returns)."""

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
