"""Live boards: the clients of each board's period (an audience) and their events, made from the global message."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError

from scoreboard.boards import service as boards
from scoreboard.boards.periods import Period, Spec
from scoreboard.boards.service import Catalog, Target
from scoreboard.db import Pool
from scoreboard.leaderboard import service as reads
from scoreboard.leaderboard.board import Board, Page, iso_seconds
from scoreboard.leaderboard.messages import board_update, rows
from scoreboard.leaderboard.tops import Tops, key_of
from scoreboard.live import events
from scoreboard.live.client import Client, Clients
from scoreboard.live.events import MAX_LIMIT, Event

log = logging.getLogger(__name__)
MAX_AUDIENCES = 1024  # past this many, audiences without clients are forgotten
SNAPSHOT_REUSE_SECONDS = 0.25
# An audience whose last client left keeps its events this long: a client that reconnects (its stream's lifetime
# ended, its network blinked) resumes with what it missed rather than a snapshot.
RESUME_SECONDS = 30.0


@dataclass(frozen=True)
class Shown:
    """A board's top for a snapshot, and the id of the last event it reflects."""

    event_id: int
    page: Page


async def from_tops(tops: Tops, key: str, board: Board) -> Shown | None:
    """A snapshot's top: this process's kept top when it is deep enough, else Redis (None while being rebuilt)."""
    if tops.size >= MAX_LIMIT:
        top = await tops.top(key, board)
        return Shown(top.event_id, top.page.cut(0, MAX_LIMIT)) if top is not None else None
    snap = await board.snapshot(MAX_LIMIT)
    return Shown(snap.event_id, snap.page) if snap.built else None


def _iso(at: datetime | None) -> str | None:
    return iso_seconds(at) if at is not None else None


class Audience:
    """The live clients of one board's period, and the events made for them (kept for resumes)."""

    def __init__(self, spec: Spec, period: Period, board: Board, replay: int, since: int | None) -> None:
        self.spec, self.period, self.board = spec, period, board
        self.clients: Clients = {}
        self.by_user: dict[UUID, set[Client]] = {}
        self.limits: Counter[int] = Counter()
        self.ring: deque[Event] = deque(maxlen=replay)
        # Every event of this period after `since` is in the ring (None: not known yet); older resumes get a snapshot.
        self.since = since
        self.version = 0  # bumps with every event of this period; a cached snapshot is good for one version
        self.ended = False  # its period's end was announced
        self.widest = 10  # the most rows a client asked for (events keep that many after the last client left)
        self.left_at: float | None = None  # when the last client left (monotonic)
        self.snapshot: tuple[int, asyncio.Task[Event], float] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(board id, period key)."""
        return self.spec.id, self.period.key

    def followed(self, now: float) -> bool:
        """Whether its events are made: it has clients, or had some a moment ago (who may resume)."""
        return bool(self.clients) or (self.left_at is not None and now - self.left_at < RESUME_SECONDS)

    @property
    def target(self) -> Target:
        """Its period as the board reads know it (Redis first)."""
        return Target(self.spec, self.period, self.board)

    def fields(self, bounds: bool = False) -> dict[str, Any]:
        """What its events say about the board (`bounds`: with the period's start and end)."""
        found: dict[str, Any] = {"boardId": self.spec.id, "period": self.period.key}
        if bounds:
            found |= {"periodStartsAt": _iso(self.period.starts_at), "periodEndsAt": _iso(self.period.ends_at)}
        return found

    def add(self, client: Client) -> None:
        """Take a client."""
        self.clients[client] = None
        self.limits[client.limit] += 1
        self.widest = max(self.limits)
        self.left_at = None
        if client.user_id is not None:
            self.by_user.setdefault(client.user_id, set()).add(client)

    def remove(self, client: Client) -> None:
        """Forget a client."""
        self.clients.pop(client, None)
        self.limits[client.limit] -= 1
        if self.limits[client.limit] <= 0:
            del self.limits[client.limit]
        if self.limits:
            self.widest = max(self.limits)
        if not self.clients:
            self.left_at = time.monotonic()
        if client.user_id is not None:
            group = self.by_user.get(client.user_id)
            if group is not None:
                group.discard(client)
                if not group:
                    del self.by_user[client.user_id]

    def keep(self, event: Event) -> None:
        """Hold an event sent to the clients, for resumes."""
        ring = self.ring
        if len(ring) == ring.maxlen and self.since is not None:
            self.since = max(self.since, ring[0].id if ring else event.id)  # what falls out can no longer be replayed
        ring.append(event)
        self.version += 1

    def missed(self, event_id: int) -> None:
        """An event of this period reached no client here: resumes from before it are not served."""
        if self.since is not None:
            self.since = max(self.since, event_id)
        self.version += 1

    def replay_after(self, last_event_id: int | None, last_id: int | None) -> list[Event] | None:
        """The events after `last_event_id` when all are held (None: send a snapshot); `last_id`: the hub's last."""
        if self.spec.kind == "result":  # results are outside the award sequence: a resume starts from a snapshot
            return None
        if last_event_id is None or last_id is None or self.since is None:
            return None
        if not self.since <= last_event_id <= last_id:
            return None
        return [e for e in self.ring if e.id > last_event_id]


class Boards:
    """A hub's audiences by board and period; the events of each are made from the one global message."""

    def __init__(self, catalog: Catalog, pool: Pool, replay: int, tops: Tops) -> None:
        self.catalog, self.pool, self.replay, self.tops = catalog, pool, replay, tops
        self.audiences: dict[tuple[str, str], Audience] = {}
        self._of: dict[Client, Audience] = {}

    def of(self, client: Client) -> Audience | None:
        """The audience of a board client (None: a client of the global stream)."""
        return self._of.get(client)

    def audience(self, spec: Spec, last_id: int | None, now: datetime | None = None) -> Audience:
        """The audience of the board's current period (made when first asked for)."""
        period = self.catalog.current(spec, now or datetime.now(UTC))
        found = self.audiences.get((spec.id, period.key))
        if found is None:
            if len(self.audiences) >= MAX_AUDIENCES:
                self.audiences = {k: a for k, a in self.audiences.items() if a.clients}
            found = Audience(spec, period, self.catalog.live(spec, period), self.replay, last_id)
            self.audiences[found.key] = found
        return found

    def join(self, client: Client, audience: Audience) -> None:
        """Put a client in an audience."""
        audience.add(client)
        self._of[client] = audience

    def leave(self, client: Client) -> Audience | None:
        """Take a client out of its audience; return that audience (None: not a board client)."""
        audience = self._of.pop(client, None)
        if audience is not None:
            audience.remove(client)
        return audience

    def drop(self, audience: Audience) -> None:
        """Forget a finished period's audience (its clients have moved on or closed)."""
        if self.audiences.get(audience.key) is audience:
            del self.audiences[audience.key]

    def resync(self) -> None:
        """The event stream had a gap: nothing held can be replayed."""
        for audience in self.audiences.values():
            audience.ring.clear()
            audience.since = None
            audience.version += 1

    def follow(self, event_id: int) -> None:
        """Audiences that did not know where they stood follow every event from `event_id` on."""
        for audience in self.audiences.values():
            if audience.since is None:
                audience.since = event_id - 1

    async def derive(self, event: Event) -> list[tuple[Audience, Event | None]]:
        """The award's event for each followed audience of a board it counted on; None: its top is unreadable."""
        standings = event.payload.get("boards")
        if not isinstance(standings, list):
            return []
        touched: list[tuple[Audience, dict[str, Any]]] = []
        now = time.monotonic()
        for standing in standings:
            audience = self.audiences.get((standing.get("boardId"), standing.get("period")))
            if audience is None:
                continue
            if audience.followed(now):
                touched.append((audience, standing))
            else:
                audience.missed(event.id)
        if not touched:
            return []
        # Read per award and audience, not kept in-process from deltas: messages lack new rows' usernames and renames.
        tops = await asyncio.gather(*(self._top(audience) for audience, _ in touched))
        payload = event.payload
        made: list[tuple[Audience, Event | None]] = []
        for (audience, standing), top in zip(touched, tops, strict=True):
            if top is None:
                made.append((audience, None))
                continue
            update = Event.build("score_update", event.id, **board_update(payload, standing, top), **audience.fields())
            made.append((audience, update))
        return made

    async def derive_result(self, payload: dict[str, Any]) -> list[tuple[Audience, Event | None]]:
        """A result message's event for its period's audience, if followed here (None: its top is unreadable)."""
        audience = self.audiences.get((str(payload.get("boardId")), str(payload.get("period"))))
        if audience is None or not audience.followed(time.monotonic()):
            return []
        top = await self._top(audience)
        if top is None:
            return [(audience, None)]
        fields = {k: payload.get(k) for k in ("userId", "username", "best", "rank", "improved", "submissionId")}
        fields |= {"timestamp": payload.get("timestamp"), "leaderboard": rows(top), **audience.fields()}
        return [(audience, Event(0, "result_update", {"type": "result_update", **fields}))]

    async def _top(self, audience: Audience) -> Page | None:
        """The top of a period for its widest client: Redis, else PostgreSQL; None when neither answers."""
        target, widest = audience.target, audience.widest
        try:
            page, _ = await boards.read(
                target, self.pool, lambda b: b.page(0, widest), boards.page_sql(target, 0, widest)
            )
        except Exception as exc:  # the clients are sent a snapshot instead (or told to reconnect)
            log.warning("live board %s: no top for this event (%r)", audience.key, exc)
            return None
        return page

    async def snapshot(self, audience: Audience, known: int) -> Event:
        """The top of a period now; concurrent callers share one read (`known`: the last event id the hub saw)."""
        cached, now = audience.snapshot, time.monotonic()
        if (
            cached is None
            or cached[0] != audience.version
            or now - cached[2] > SNAPSHOT_REUSE_SECONDS
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            cached = (audience.version, asyncio.create_task(self._read_snapshot(audience, known)), now)
            audience.snapshot = cached
        return await asyncio.shield(cached[1])

    async def _read_snapshot(self, audience: Audience, known: int) -> Event:
        fields = audience.fields(bounds=True)
        try:
            top = await from_tops(self.tops, key_of(*audience.key), audience.board)
            if top is not None:
                return events.snapshot(top.event_id, top.page, "redis", **fields)
            log.info("live board snapshot from PostgreSQL: the Redis boards are being rebuilt")
        except RedisError as exc:
            log.warning("live board snapshot from PostgreSQL: Redis unavailable (%s)", exc)
        target = audience.target
        page = await reads.from_postgres(self.pool, boards.page_sql(target, 0, MAX_LIMIT), boards.count_sql(target))
        return events.snapshot(known, page, "postgres", **fields)

    def finished(self, now: datetime) -> list[Audience]:
        """The audiences whose period is over at `now` and not yet announced."""
        return [
            a
            for a in self.audiences.values()
            if not a.ended and a.period.ends_at is not None and now >= a.period.ends_at
        ]

    async def spec_now(self, spec: Spec) -> Spec | None:
        """The board as the catalog has it now (None: removed or deactivated; as it was when the catalog is away)."""
        try:
            found = (await self.catalog.specs(self.pool)).get(spec.id)
        except Exception as exc:
            log.warning("live board %s: catalog unavailable at the period's end (%r)", spec.id, exc)
            return spec
        return found if found is not None and found.is_active else None

    async def final(self, audience: Audience, next_period: str | None) -> Event | None:
        """`period_end`: the finished period's final top (PostgreSQL, its archive; Redis keeps it a while too)."""
        target, widest = Target(audience.spec, audience.period, None), audience.widest
        try:
            page = await reads.from_postgres(self.pool, boards.page_sql(target, 0, widest), boards.count_sql(target))
            source = "postgres"
        except Exception as exc:
            log.warning("live board %s: final standings from Redis: PostgreSQL unavailable (%r)", audience.key, exc)
            try:
                page, source = await audience.board.page(0, widest), "redis"
            except RedisError:
                log.warning("live board %s: no final standings to announce", audience.key)
                return None
        return Event.build(
            "period_end",
            **audience.fields(bounds=True),
            nextPeriod=next_period,
            leaderboard=rows(page),
            totalPlayers=page.total,
            source=source,
            timestamp=iso_seconds(datetime.now(UTC)),
        )
