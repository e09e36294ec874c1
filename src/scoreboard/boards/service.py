"""Board rules: the catalog (cached per process), which period a read means, reads from Redis or PostgreSQL, changes."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from scoreboard.boards import families, periods, repository
from scoreboard.boards.families import Family, spec_of
from scoreboard.boards.periods import Period, Spec
from scoreboard.boards.schemas import BoardCreate, BoardPatch, BoardView, PeriodPage, ResultEntry
from scoreboard.db import Connection, Pool
from scoreboard.kit.pipelined import ScriptHost
from scoreboard.kit.problems import STORE_ERRORS, Conflict, NotFound, Unprocessable
from scoreboard.leaderboard import repository as global_sql
from scoreboard.leaderboard import service as global_reads
from scoreboard.leaderboard.board import Board, Page
from scoreboard.leaderboard.schemas import BoardEntry
from scoreboard.results import repository as results

log = logging.getLogger(__name__)
Rows = Callable[[Connection], Awaitable[list[asyncpg.Record]]]


class Catalog:
    """The board catalog as this process knows it: reloaded when older than `ttl` or changed here."""

    def __init__(self, redis: ScriptHost, board: Board, ttl: float) -> None:
        self.redis, self.board, self.ttl = redis, board, ttl
        self._specs: dict[str, Spec] = {}
        self._loaded = float("-inf")
        self._families: dict[tuple[str, str], Board] = {}
        self._current: dict[str, Period] = {}

    async def specs(self, pool: Pool) -> dict[str, Spec]:
        """Every board by id."""
        if time.monotonic() - self._loaded > self.ttl:
            async with pool.acquire() as conn:
                rows = await repository.boards(conn)
            self._specs = {row["id"]: spec_of(row) for row in rows}
            self._loaded = time.monotonic()
        return self._specs

    async def spec(self, pool: Pool, board_id: str) -> Spec:
        """One board (404 when unknown)."""
        found = (await self.specs(pool)).get(board_id)
        if found is None:
            self.forget()  # perhaps added on another process since the last load
            found = (await self.specs(pool)).get(board_id)
        if found is None:
            raise NotFound(f"No board {board_id!r}.")
        return found

    def forget(self) -> None:
        """Reload at the next use (after a change)."""
        self._loaded = float("-inf")
        self._current.clear()

    def current(self, spec: Spec, now: datetime) -> Period:
        """The period awards count in now, computed once per period (reads ask for it on every request)."""
        found = self._current.get(spec.id)
        if found is None or not _holds(found, now):
            found = self._current[spec.id] = periods.current(spec, now)
        return found

    def live(self, spec: Spec, period: Period) -> Board:
        """The Redis board of a period (the seed's keys for `global`)."""
        if spec.id == periods.GLOBAL:
            return self.board
        name = (spec.id, period.key)
        found = self._families.get(name)
        if found is None:
            if len(self._families) > 1024:  # finished periods' boards are never asked for again
                self._families.clear()
            found = self._families[name] = Board(self.redis, self.board.top_n, Family(spec, period).names, spec.sign)
        return found


def _holds(period: Period, now: datetime) -> bool:
    return (period.starts_at is None or period.starts_at <= now) and (period.ends_at is None or now < period.ends_at)


@dataclass(frozen=True)
class Target:
    """A read's board and period, and where it is answered from."""

    spec: Spec
    period: Period
    live: Board | None  # None: a finished period, answered by PostgreSQL alone

    @property
    def is_global(self) -> bool:
        """Whether this is the seed's board."""
        return self.spec.id == periods.GLOBAL


async def target(catalog: Catalog, pool: Pool, board_id: str, name: str) -> Target:
    """Resolve `current`, `previous` or a period key on a board (404 when either is unknown)."""
    spec = await catalog.spec(pool, board_id)
    now = datetime.now(UTC)
    this = catalog.current(spec, now)
    found = this if name == "current" else periods.resolve(spec, name, now)
    if found is None:
        raise NotFound(f"Board {board_id!r} has no period {name!r}.")
    is_current = found.key == this.key
    return Target(spec, found, catalog.live(spec, found) if is_current and spec.is_active else None)


async def read(target: Target, pool: Pool, fast: Callable[[Board], Awaitable[Page]], slow: Rows) -> tuple[Page, str]:
    """Answer from Redis for a current period (PostgreSQL if it is unavailable), from PostgreSQL for archives."""
    if target.live is not None:
        page, source = await global_reads.read(target.live, pool, fast, slow, count_sql(target))
        return page, source
    return await global_reads.from_postgres(pool, slow, count_sql(target)), "postgres"


def _standing(target: Target) -> tuple[global_sql.Standing, tuple[str, ...]]:
    """Where the board's rule finds a period's players in PostgreSQL, and the board and period it is keyed by."""
    if target.is_global:
        return global_sql.GLOBAL, ()
    return repository.STANDINGS[target.spec.kind], (target.spec.id, target.period.key)


def count_sql(target: Target) -> Callable[[Connection], Awaitable[int]]:
    """The PostgreSQL count of a period's ranked players."""
    standing, key = _standing(target)
    return lambda c: global_sql.total(c, standing, *key)


def page_sql(target: Target, offset: int, limit: int) -> Rows:
    """The PostgreSQL twin of a page read."""
    standing, key = _standing(target)
    return lambda c: global_sql.page(c, offset, limit, standing, *key)


def around_sql(target: Target, user_id: UUID, radius: int) -> Rows:
    """The PostgreSQL twin of an around read."""
    standing, key = _standing(target)
    return lambda c: global_sql.around(c, user_id, radius, standing, *key)


def ranks_sql(target: Target, user_ids: list[UUID]) -> Rows:
    """The PostgreSQL twin of a ranks read."""
    standing, key = _standing(target)
    return lambda c: global_sql.ranks(c, user_ids, standing, *key)


def cursor_of(offset: int) -> str:
    """An opaque cursor for the page starting at `offset`."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def offset_of(cursor: str | None) -> int:
    """The offset a cursor stands for (422 for one we did not make)."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("o:") and text[2:].isdigit() and int(text[2:]) <= 10_000_000:
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Unprocessable(
        "This cursor was not issued by this service.",
        errors=[{"loc": ["query", "cursor"], "msg": "unknown cursor", "type": "value_error"}],
    )


async def metadata_of(pool: Pool, target: Target, page: Page) -> dict[UUID, Any]:
    """A result board's metadata of these entries (none when PostgreSQL does not answer: the ranks still do)."""
    if target.spec.kind != "result" or not page.entries:
        return {}
    try:
        async with pool.acquire() as conn:
            return await results.metadata(conn, target.spec.id, target.period.key, [e.user_id for e in page.entries])
    except STORE_ERRORS as exc:
        log.warning("result metadata left out: PostgreSQL unavailable (%r)", exc)
        return {}


def period_page(
    target: Target, page: Page, next_offset: int | None, metadata: dict[UUID, Any] | None = None
) -> PeriodPage:
    """Render a period's page."""
    found = metadata or {}
    rows: list[BoardEntry | ResultEntry] = [
        BoardEntry(rank=e.rank, user_id=e.user_id, username=e.username, score=e.score) for e in page.entries
    ]
    if target.spec.kind == "result":
        rows = [ResultEntry(**row.model_dump(), metadata=found.get(row.user_id)) for row in rows]
    return PeriodPage(
        board_id=target.spec.id,
        period=target.period.key,
        period_starts_at=target.period.starts_at,
        period_ends_at=target.period.ends_at,
        entries=rows,
        total_players=page.total,
        next_cursor=cursor_of(next_offset) if next_offset is not None and next_offset < page.total else None,
    )


def view(spec: Spec, now: datetime | None = None) -> BoardView:
    """A board with its current period."""
    this = periods.current(spec, now or datetime.now(UTC))
    return BoardView(
        id=spec.id,
        name=spec.name,
        description=spec.description,
        period=spec.period,
        time_zone=spec.time_zone,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        actions=list(spec.action_ids) if spec.action_ids is not None else None,
        is_active=spec.is_active,
        kind=spec.kind,
        sort=spec.sort,
        keep=spec.keep,
        min_value=spec.min_value,
        max_value=spec.max_value,
        current_period=this.key,
        current_period_starts_at=this.starts_at,
        current_period_ends_at=this.ends_at,
    )


async def _check_references(conn: Connection, time_zone: str | None, actions: list[str] | None) -> None:
    if time_zone is not None and not await repository.zone_known(conn, time_zone):
        raise Unprocessable(
            f"PostgreSQL does not know the time zone {time_zone!r}.",
            errors=[{"loc": ["body", "timeZone"], "msg": "unknown time zone", "type": "value_error"}],
        )
    if actions:
        unknown = await repository.unknown_actions(conn, actions)
        if unknown:
            raise Unprocessable(
                f"No action {', '.join(map(repr, unknown))}.",
                errors=[{"loc": ["body", "actions"], "msg": f"unknown actions: {unknown}", "type": "value_error"}],
            )


async def create(conn: Connection, body: BoardCreate) -> Spec:
    """Add a board (409 when the id is taken); it counts awards from its creation on."""
    await _check_references(conn, body.time_zone, body.actions)
    values = body.model_dump(exclude={"actions"}) | {"action_ids": body.actions}
    try:
        async with conn.transaction():
            row = await repository.insert(conn, values)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(f"Board {body.id!r} already exists.") from exc
    return spec_of(row)


async def change(conn: Connection, board_id: str, patch: BoardPatch) -> Spec:
    """Change a board; which actions count and the zone apply to awards from now on (404, 409 for `global`)."""
    current = await repository.board(conn, board_id)
    if current is None:
        raise NotFound(f"No board {board_id!r}.")
    if board_id == periods.GLOBAL:
        raise Conflict("The global board is built in: it counts every action, all time.")
    changes = patch.model_dump(exclude_unset=True)
    if "actions" in changes:
        changes["action_ids"] = changes.pop("actions")
    if ("starts_at" in changes or "ends_at" in changes) and current["period"] != "season":
        raise Unprocessable("Only a season has startsAt and endsAt.")
    if current["kind"] == "points" and ("min_value" in changes or "max_value" in changes):
        raise Unprocessable("Only a result board has minValue and maxValue.")
    if current["kind"] == "result" and changes.get("action_ids") is not None:
        raise Unprocessable("A result board ranks submitted results: it has no actions.")
    low, high = changes.get("min_value", current["min_value"]), changes.get("max_value", current["max_value"])
    if low is not None and high is not None and high < low:
        raise Unprocessable("maxValue must be at least minValue.")
    starts, ends = changes.get("starts_at", current["starts_at"]), changes.get("ends_at", current["ends_at"])
    if starts is not None and ends is not None and ends <= starts:
        raise Unprocessable("endsAt must be after startsAt.")
    await _check_references(conn, changes.get("time_zone"), changes.get("action_ids"))
    row = await repository.update(conn, board_id, changes)
    assert row is not None
    return spec_of(row)


async def backfill(pool: Pool, redis: Redis, board_id: str, grace: int) -> int:
    """Recount a board's periods (from score_history, or a result board's submissions), reload Redis; return them."""
    if board_id == periods.GLOBAL:
        raise Conflict("The global board is users.current_score: `scoreboard leaderboard rebuild` reloads it.")
    async with pool.acquire() as conn:
        found = await repository.board(conn, board_id)
        if found is None:
            raise NotFound(f"No board {board_id!r}.")
        if found["kind"] == "result":
            count = await results.recount(conn, board_id)  # from its submissions, removed ones left out
        else:
            count = await repository.backfill(conn, board_id)
    for family in (await families.current(pool))[0]:
        if family.spec.id == board_id:
            await families.reload(pool, redis, family, grace, secrets.token_hex(8))
    return count
