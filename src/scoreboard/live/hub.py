"""The process's one subscription to `leaderboard:updates`, fanned out to every live client of this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar
from uuid import UUID

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from scoreboard.boards.periods import Spec
from scoreboard.boards.service import Catalog
from scoreboard.config import Settings
from scoreboard.db import Pool
from scoreboard.kit import metrics
from scoreboard.kit.periodic import Periodic
from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.subscription import Subscription
from scoreboard.leaderboard import keys, repository, service
from scoreboard.leaderboard.board import Board, iso_seconds
from scoreboard.leaderboard.messages import rank_after, rows
from scoreboard.leaderboard.tops import GLOBAL, Tops, key_of
from scoreboard.live import events, sessions
from scoreboard.live.boards import Audience, Boards, from_tops
from scoreboard.live.client import Client, Clients, Limits
from scoreboard.live.delivery import Delivery
from scoreboard.live.events import MAX_LIMIT, Event

log = logging.getLogger(__name__)
RANK_CHUNK = 100
SNAPSHOT_REUSE_SECONDS = 0.25
FLUSH_DELAY_SECONDS = 0.05
BEAT_SLICE = 1000  # streams per heartbeat write between yields to the loop
BEAT_PARTS = 15  # ticks per heartbeat period (one a second at 15 s), each for the streams of one part
# A period ends for its live clients this long after its last instant: an award whose transaction began before the
# boundary commits (and counts in the old period) a moment after it.
ROLL_SETTLE = timedelta(seconds=2)
K = TypeVar("K")


def _drop(counter: Counter[K], key: K) -> None:
    """Count one less of `key`, forgetting it at zero (`max(self._limits)` must see only limits in use)."""
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class Hub:
    """Subscribe once, keep a ring of recent events for resumes, write each event to every client."""

    def __init__(
        self,
        redis: Redis,
        board: Board,
        pool: Pool,
        settings: Settings,
        delivery: Delivery,
        catalog: Catalog,
        tops: Tops,
    ) -> None:
        self.redis = redis
        self.tops = tops
        self.board = board
        self.pool = pool
        self.settings = settings
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        # One instance shared by every client.
        self.client_limits = Limits(
            settings.stream_client_queue,
            settings.stream_stall_timeout_seconds,
            settings.stream_max_lifetime_seconds,
            settings.stream_retry_ms,
        )
        self.clients: Clients = {}  # every stream: the global board's and the other boards'
        self._global: Clients = {}  # the global board's
        self.boards = Boards(catalog, pool, settings.stream_replay_events, tops)
        self.delivery = delivery
        self.subscribed = asyncio.Event()
        self.draining = False
        self.last_id: int | None = None  # the last event received since (re)subscribing
        self._ring: deque[Event] = deque(maxlen=settings.stream_replay_events)
        self._by_user: dict[UUID, set[Client]] = {}
        self._limits: Counter[int] = Counter()
        self._per_ip: Counter[str] = Counter()
        self._version = 0  # bumps with every event; a cached snapshot is good for one version
        self._snapshot: tuple[int, asyncio.Task[Event], float] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._stopping = False
        # Each tick serves one part of the streams, in turn: all of them at once held the loop as long as a few
        # events' broadcasts (writes, session refreshes), and the events that arrived meanwhile waited behind them.
        self.beat_parts = max(1, min(BEAT_PARTS, int(settings.stream_heartbeat_seconds)))
        self._phase = 0
        every = settings.stream_heartbeat_seconds / self.beat_parts
        self._ticker = Periodic("live-heartbeat", self.tick, every=every)
        self._empty = asyncio.Event()
        self._empty.set()
        # Session hashes and ranks are written in batches: a reconnect storm of thousands of clients must not
        # become thousands of Redis round trips competing with awards for the connection pool. New streams and
        # each heartbeat's part queue here; a heartbeat never waits for Redis (a slow Redis would stretch it).
        self._saving: list[Client] = []
        self._closed: list[Client] = []
        self._flusher: asyncio.Task[None] | None = None
        self._rolling: asyncio.Task[None] | None = None
        self.beat_slice = BEAT_SLICE

    def start(self) -> None:
        """Subscribe and start heartbeats."""
        self._listener = asyncio.create_task(self._listen(), name="live-subscriber")
        self._ticker.start()

    async def close(self) -> None:
        """Tell every client to reconnect elsewhere, wait for them (bounded), then unsubscribe."""
        await self.drain()
        self._stopping = True
        if self._flusher is not None:  # the sessions of the streams just ended are deleted, not left to expire
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._flusher), 2)
        if self._rolling is not None:
            self._rolling.cancel()
        try:
            await self._ticker.stop()
            if self._listener is not None:
                self._listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._listener
        finally:
            self.delivery.close()

    def begin_drain(self) -> None:
        """Refuse new clients and ask current ones to reconnect (the server is going away)."""
        self.draining = True
        for client in tuple(self.clients):
            client.close("shutdown")

    async def drain(self) -> None:
        """Close every stream with a reconnect hint; give up waiting after the drain timeout."""
        self.begin_drain()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.stream_drain_seconds):
                await self._empty.wait()
        if self.clients:
            log.warning("%d live client(s) did not close within the drain timeout", len(self.clients))

    @property
    def full(self) -> bool:
        """Whether a new client must be turned away (connection cap, or shutting down)."""
        return self.draining or len(self.clients) >= self.settings.stream_max_connections

    def crowded(self, ip: str | None) -> bool:
        """Whether this address already holds as many streams as one address may."""
        cap = self.settings.stream_max_per_ip
        return bool(cap and ip and self._per_ip[ip] >= cap)

    def audience(self, spec: Spec | None) -> tuple[Audience | None, Callable[[], Awaitable[Event]]]:
        """Where a stream of this board (None: the global one) belongs, and where its snapshots come from."""
        if spec is None:
            return None, self.snapshot
        audience = self.boards.audience(spec, self.last_id)
        return audience, partial(self.board_snapshot, audience)

    async def board_snapshot(self, audience: Audience) -> Event:
        """The top of a board's period now."""
        return await self.boards.snapshot(audience, self.last_id or 0)

    def attach(self, client: Client, last_event_id: int | None, audience: Audience | None = None) -> None:
        """Add a client (of `audience`, else of the global board); it opens with the events it missed, or a snapshot."""
        if audience is None:
            self.delivery.attach(client)  # the accelerator's roster: clients of every global event
            client.start(self._replay_after(last_event_id), last_event_id)
            self._global[client] = None
            self._limits[client.limit] += 1
            if client.user_id is not None:
                self._by_user.setdefault(client.user_id, set()).add(client)
        else:
            client.start(audience.replay_after(last_event_id, self.last_id), last_event_id)
            self.boards.join(client, audience)
        if self.draining:  # it passed the door just as shutdown began
            client.close("shutdown")
        self.clients[client] = None
        metrics.LIVE_STREAMS.set(len(self.clients))
        self._empty.clear()
        if client.ip:
            self._per_ip[client.ip] += 1
        self._saving.append(client)
        self._schedule_flush()

    def detach(self, client: Client) -> None:
        """Forget a client."""
        self.clients.pop(client, None)
        metrics.LIVE_STREAMS.set(len(self.clients))
        self.delivery.detach(client)
        if client.ip:
            _drop(self._per_ip, client.ip)
        if self.boards.leave(client) is None:
            self._global.pop(client, None)
            _drop(self._limits, client.limit)
            if client.user_id is not None:
                group = self._by_user.get(client.user_id)
                if group is not None:
                    group.discard(client)
                    if not group:
                        del self._by_user[client.user_id]
        if not self.clients:
            self._empty.set()
        self._closed.append(client)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._saving or self._closed:
                await asyncio.sleep(FLUSH_DELAY_SECONDS)
                # A client queued twice (a heartbeat while Redis was slow, then the next one) is written once.
                saving, closed = list(dict.fromkeys(self._saving)), self._closed
                self._saving, self._closed = [], []
                try:
                    await sessions.close_sessions(self.redis, [c.id for c in closed])
                except RedisError as exc:
                    log.debug("ended live sessions not deleted (%s); they expire with their TTL", exc)
                try:
                    await sessions.save(self.redis, saving, self.instance, still=self.clients)
                    await self.check_ranks([c for c in saving if c.user_id is not None and c in self.clients])
                except RedisError as exc:
                    log.debug("live sessions not written (%s); the next heartbeat writes them", exc)
        finally:
            self._flusher = None

    def _replay_after(self, last_event_id: int | None) -> list[Event] | None:
        if last_event_id is None or self.last_id is None or last_event_id > self.last_id:
            return None
        if last_event_id == self.last_id:
            return []
        ring = self._ring
        if not ring or ring[0].id > last_event_id + 1:
            return None  # some of what the client missed is no longer held
        return [e for e in ring if e.id > last_event_id]

    async def snapshot(self) -> Event:
        """The top of the board now; concurrent callers (every client after a Redis restart) share one read."""
        # Shared while the read runs and briefly after; registrations and renames publish no event, so a
        # cached snapshot also has to age out, not just be replaced by the next event.
        cached, now = self._snapshot, time.monotonic()
        if (
            cached is None
            or cached[0] != self._version
            or now - cached[2] > SNAPSHOT_REUSE_SECONDS
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            cached = (self._version, asyncio.create_task(self._read_snapshot()), now)
            self._snapshot = cached
        return await asyncio.shield(cached[1])

    async def _read_snapshot(self) -> Event:
        # Taken first: a PostgreSQL page read after this id holds at least every award up to it.
        known = self.last_id or 0
        try:
            top = await from_tops(self.tops, GLOBAL, self.board)
            if top is not None:
                return events.snapshot(top.event_id, top.page, "redis")
            log.info("live snapshot from PostgreSQL: the Redis board is being rebuilt")
        except RedisError as exc:
            log.warning("live snapshot from PostgreSQL: Redis unavailable (%s)", exc)
        page = await service.from_postgres(self.pool, lambda conn: repository.page(conn, 0, MAX_LIMIT))
        return events.snapshot(known, page, "postgres")

    async def _listen(self) -> None:
        delay = 0.2
        while not self._stopping:
            subscription: Subscription | None = None
            try:
                subscription = await Subscription.open(
                    Pipelined.like(self.redis), (keys.UPDATES, keys.REBUILT, keys.RESULTS)
                )
                # Whatever was published while we were not subscribed is lost to us: start clients afresh.
                self._resync("subscribed")
                self.subscribed.set()
                delay = 0.2
                while not self._stopping:
                    for channel, data in await subscription.get():
                        await self._take(channel, data)
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set():
                    log.warning("live updates: lost the Redis subscription (%s); reconnecting", exc)
                self.subscribed.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                if subscription is not None:
                    subscription.close()

    async def _take(self, channel: str, data: str) -> None:
        """Act on one message of the subscription."""
        try:
            if channel == keys.REBUILT:
                self._resync("the board was rebuilt")
            else:
                await (self.result_local if channel == keys.RESULTS else self.publish_local)(data)
        except Exception:  # one bad event must not end live updates for the process
            log.exception("live updates: failed to fan out an event")

    def _resync(self, why: str) -> None:
        self.tops.clear()
        self._ring.clear()
        self.last_id = None
        self._version += 1
        self.boards.resync()
        if self.clients:
            log.info("live updates: %s; sending %d client(s) a fresh snapshot", why, len(self.clients))
        for client in tuple(self.clients):
            client.rank_as_of = 0  # ids may restart lower; the next rank read sets it again
            client.resnapshot()

    async def publish_local(self, raw: str | bytes) -> None:
        """Hand one `leaderboard:updates` message to every client of this process."""
        try:
            event = Event.from_message(raw)
        except ValueError as exc:
            log.warning("live updates: ignored a malformed message (%s)", exc)
            return
        self.tops.moved_by(event.payload)
        if self.last_id is not None and event.id != self.last_id + 1:
            self._resync(f"event ids jumped from {self.last_id} to {event.id}")
        self._ring.append(event)
        self.last_id = event.id
        self._version += 1
        await self._widen(event)
        self.delivery.broadcast(event, self._global, everyone=True)
        if self._global:  # every process receives every award: one with no streams writes no metric
            metrics.LIVE_EVENTS_SENT.inc(len(self._global))
        self._ranks_after(event, self._by_user)
        if self.boards.audiences:
            await self._boards_after(event)

    async def result_local(self, raw: str | bytes) -> None:
        """Hand one `leaderboard:results` message to the clients of its board's period (outside the event sequence)."""
        payload = orjson.loads(raw)
        self.tops.moved([key_of(str(payload.get("boardId")), str(payload.get("period")))])
        self._to_audiences(await self.boards.derive_result(payload), 0)

    async def _boards_after(self, event: Event) -> None:
        """Give each board audience the award's effect on its period (its clients only)."""
        self.boards.follow(event.id)
        self._to_audiences(await self.boards.derive(event), event.id)

    def _to_audiences(self, made: list[tuple[Audience, Event | None]], event_id: int) -> None:
        for audience, update in made:
            if update is None:  # its top could not be read: the clients start afresh from a snapshot
                audience.missed(event_id)
                for client in tuple(audience.clients):
                    client.resnapshot()
                continue
            audience.keep(update)
            self.delivery.broadcast(update, audience.clients, everyone=False)
            metrics.LIVE_EVENTS_SENT.inc(len(audience.clients))
            self._ranks_after(update, audience.by_user)

    async def _widen(self, event: Event) -> None:
        board = event.payload.get("leaderboard")
        widest = max(self._limits, default=0)
        if isinstance(board, list) and widest > len(board):
            try:
                event.wide = rows((await self.board.snapshot(widest)).page)
            except Exception as exc:  # the event still goes out with its own top 10
                log.warning("live updates: no wide board for this event (%r)", exc)

    def _ranks_after(self, event: Event, by_user: dict[UUID, set[Client]]) -> None:
        """Tell signed-in clients whose rank this award changed (scores only rise: count who was passed)."""
        if by_user:
            for group in by_user.values():
                for client in group:
                    self._apply(client, event)

    def _apply(self, client: Client, event: Event) -> None:
        if event.id <= client.rank_as_of:
            return  # the rank read already reflects this award
        client.rank_as_of = event.id
        payload = event.payload
        new, winner = payload.get("newScore"), payload.get("userId")
        before = payload.get("previousScore", new - payload.get("scoreChange", 0) if isinstance(new, int) else None)
        if not isinstance(new, int) or not isinstance(before, int):
            return
        if str(client.user_id) == winner:
            self._tell_rank(client, int(payload.get("rank") or 0), new)
        elif client.rank is not None and client.score is not None:
            self._tell_rank(client, rank_after(client.rank, client.score, before=before, after=new), client.score)

    def _tell_rank(self, client: Client, rank: int, score: int) -> None:
        if (rank, score) == (client.rank, client.score):
            return
        client.rank, client.score = rank, score
        now = iso_seconds(datetime.now(UTC))
        client.push(Event.build("my_rank", userId=str(client.user_id), rank=rank, score=score, timestamp=now))

    async def check_ranks(self, clients: list[Client]) -> None:
        """Ask each client's board for these clients' ranks and tell those that changed (or were never told)."""
        groups: dict[Audience | None, dict[UUID, list[Client]]] = {}
        for client in clients:
            if client.user_id is not None:
                groups.setdefault(self.boards.of(client), {}).setdefault(client.user_id, []).append(client)
        for audience, by_user in groups.items():
            if audience is None:
                await self._check_ranks(self.board, self._ring, by_user)
            else:
                await self._check_ranks(audience.board, audience.ring, by_user)

    async def _check_ranks(self, board: Board, ring: deque[Event], by_user: dict[UUID, list[Client]]) -> None:
        users = list(by_user)
        for start in range(0, len(users), RANK_CHUNK):
            as_of, page = await board.ranks_at(users[start : start + RANK_CHUNK])
            # Events that arrived while the read was under way are newer than it: replay them on top.
            newer = [e for e in ring if e.id > as_of] if self.last_id is not None and self.last_id > as_of else []
            for entry in page.entries:
                for client in by_user.get(entry.user_id, ()):
                    if as_of < client.rank_as_of and not newer:
                        continue  # what the client has is newer than this read
                    client.rank_as_of = as_of
                    self._tell_rank(client, entry.rank, entry.score)
                    for event in newer:
                        self._apply(client, event)

    async def tick(self) -> None:
        """For the next part of the clients: heartbeat, end those past their lifetime, queue sessions and ranks."""
        parts = self.beat_parts
        phase = self._phase % parts
        self._phase = phase + 1
        # A client's part follows from its random id: each is served once per heartbeat period, with no bookkeeping.
        clients = [c for c in self.clients if c.id.int % parts == phase] if parts > 1 else list(self.clients)
        now = time.monotonic()
        beat = Event.build("heartbeat", timestamp=iso_seconds(datetime.now(UTC)))
        beating: list[Client] = []
        for client in clients:
            if now >= client.deadline:
                client.close("lifetime")
            else:
                beating.append(client)
        # In slices, yielding between them: one write to every stream holds the loop for long, and a heartbeat
        # (unlike an event) has no deadline that an award or event waiting behind it should pay for.
        for start in range(0, len(beating), self.beat_slice):
            if start:
                await asyncio.sleep(0)
            self.delivery.broadcast(beat, beating[start : start + self.beat_slice], everyone=False)
        self._saving.extend(clients)
        self._schedule_flush()
        # Periods end on this clock, with no job of their own; in a task: a slow PostgreSQL must not stall heartbeats.
        settled = datetime.now(UTC) - ROLL_SETTLE
        if self._rolling is None and self.boards.finished(settled):
            self._rolling = asyncio.get_running_loop().create_task(self._roll_once(settled))

    async def _roll_once(self, now: datetime) -> None:
        try:
            await self.roll(now)
        except Exception:
            log.exception("live boards: failed to end a period")
        finally:
            self._rolling = None

    async def roll(self, now: datetime) -> None:
        """End the periods over at `now`: `period_end` to their clients, then a snapshot of the board's next period."""
        finished = self.boards.finished(now)
        for audience in finished:
            audience.ended = True
            spec = await self.boards.spec_now(audience.spec)
            after = self.boards.audience(spec, self.last_id, now) if spec is not None else None
            if after is audience:  # a season that ended: its final standings stay what its clients see
                after = None
            end = await self.boards.final(audience, after.period.key if after else None) if audience.clients else None
            for client in tuple(audience.clients):
                if end is not None:
                    client.push(end)
                if spec is None:
                    client.close("board_closed")  # removed or deactivated meanwhile: a reconnect gets its 404
                elif after is not None:
                    self._move(client, after)
            if spec is None or after is not None:
                self.boards.drop(audience)
        if finished:
            self._schedule_flush()  # the moved players' ranks in their new period

    def _move(self, client: Client, audience: Audience) -> None:
        """Put a client in another period's audience: it gets that period's snapshot next, then its events."""
        self.boards.leave(client)
        self.boards.join(client, audience)
        client.rank, client.score, client.rank_as_of = None, None, 0
        client.then_snapshot(partial(self.board_snapshot, audience))
        if client.user_id is not None:
            self._saving.append(client)
