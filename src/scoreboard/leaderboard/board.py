"""The board's Redis side: scripts loaded once, called by SHA; reads in one round trip each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import chain
from typing import Any, Literal
from uuid import UUID

from scoreboard.kit.pipelined import Pipelined, ScriptHost
from scoreboard.leaderboard import keys
from scoreboard.leaderboard import scripts as scripts_lua

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SyncMode = Literal["raise", "exact", "newer"]


def iso_seconds(at: datetime) -> str:
    """Format a time the way the seed's messages do: 2025-12-11T10:30:45Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(at: datetime) -> int:
    """Whole milliseconds since the epoch, exactly (no float rounding), as PostgreSQL's floor() gives."""
    return (at - EPOCH) // timedelta(milliseconds=1)


def epoch_us(at: datetime) -> int:
    """Microseconds since the epoch: a PostgreSQL timestamp exactly."""
    return (at - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class Member:
    """What the board holds for one user."""

    user_id: UUID
    username: str
    score: int
    reached: datetime
    active: bool = True


@dataclass(frozen=True)
class Entry:
    """One ranked row."""

    user_id: UUID
    username: str | None
    score: int
    rank: int


@dataclass(frozen=True)
class Page:
    """Ranked rows and the number of ranked players."""

    entries: list[Entry]
    total: int

    def cut(self, offset: int, limit: int) -> Page:
        """Rows `offset` .. `offset + limit - 1` of this page."""
        return Page(self.entries[offset : offset + limit], self.total)


@dataclass(frozen=True)
class PeriodAward:
    """An award's standing on another board's period, as PostgreSQL counted it, and when its Redis keys expire."""

    board_id: str
    period: str
    score: int
    expires_at: int  # epoch seconds; 0: never


@dataclass(frozen=True)
class Applied:
    """What the board says after an award."""

    rank: int
    event_id: int


@dataclass(frozen=True)
class Snapshot:
    """The top of the board and the id of the last event it reflects."""

    event_id: int
    built: bool
    page: Page
    as_of_us: int = 0  # the later of the last rebuild and the newest award applied (0: unknown)


@lru_cache(maxsize=1 << 16)
def _user_id(text: str) -> UUID:
    # Players come back in page after page; parsing an id anew costs more than the rest of its row.
    return UUID(text)


def _page(reply: list[str | int | None], sign: int = 1) -> Page:
    total, flat = int(reply[0] or 0), reply[1:]
    rows = [
        Entry(
            user_id=_user_id(str(flat[i])),
            username=None if flat[i + 3] is None else str(flat[i + 3]),
            score=sign * int(flat[i + 1] or 0),
            rank=int(flat[i + 2] or 0),
        )
        for i in range(0, len(flat), 4)
    ]
    return Page(rows, total)


class Board:
    """The leaderboard in Redis (derived from PostgreSQL, rebuildable at any time)."""

    def __init__(
        self, scripts: ScriptHost, top_n: int = 10, names: Sequence[str] = keys.DERIVED, sign: int = 1
    ) -> None:
        self.top_n = top_n
        # Reads show sign * the ranked value: a board where the lowest value ranks first holds values negated.
        self.sign = sign
        self.names = list(names)
        # Score caches follow the live board; a rebuild's staging keys leave them alone.
        self.caches = self.names == list(keys.DERIVED)
        self._sync = scripts.register_script(scripts_lua.SYNC)
        self._apply = scripts.register_script(scripts_lua.APPLY_AWARD)
        self._rank = scripts.register_script(scripts_lua.RANK)
        self._page = scripts.register_script(scripts_lua.PAGE)
        self._around = scripts.register_script(scripts_lua.AROUND)
        self._ranks = scripts.register_script(scripts_lua.RANKS)
        self._range = scripts.register_script(scripts_lua.RANGE)
        self._snapshot = scripts.register_script(scripts_lua.SNAPSHOT)
        self._ranks_at = scripts.register_script(scripts_lua.RANKS_AT)
        self._expire_at = scripts.register_script(scripts_lua.EXPIRE_AT)

    async def apply_award(
        self,
        *,
        user_id: UUID,
        username: str,
        new_score: int,
        score_change: int,
        action_id: str,
        at: datetime,
        history_id: int,
        periods: Sequence[PeriodAward] = (),
    ) -> Applied:
        """Raise the user (never lower) here and on `periods`, refresh the score cache, publish, record the award.

        While a rebuild is under way the rank is 0 (unknown) and nothing is published.
        """
        family_keys: list[str] = []
        family_args: list[str | int] = []
        for p in periods:
            family_keys += keys.family(p.board_id, p.period)
            family_args += [p.board_id, p.period, p.score, p.expires_at]
        rank, event_id = await self._apply(
            keys=[
                *self.names,
                keys.SEQUENCE,
                keys.UPDATES,
                keys.score_cache(user_id),
                keys.MIRROR,
                keys.BUILT,
                *family_keys,
            ],
            args=[
                str(user_id),
                new_score,
                score_change,
                action_id,
                iso_seconds(at),
                epoch_ms(at),
                username,
                self.top_n,
                keys.SCORE_TTL_SECONDS,
                history_id,
                epoch_us(at),
                *family_args,
            ],
        )
        return Applied(int(rank), int(event_id))

    async def sync(self, members: Sequence[Member], mode: SyncMode = "raise") -> int:
        """Apply PostgreSQL's view of `members`: inactive ones leave, active ones are raised or set exactly.

        `newer`: set exactly unless the board holds a later reach time (a write that arrived out of order).

        Returns how many members' scores on the board this changed.
        """
        if not members:
            return 0
        args: list[str | int] = [mode]
        for m in members:
            args += [str(m.user_id), m.score, epoch_ms(m.reached), m.username, 1 if m.active else 0]
        caches = [keys.score_cache(m.user_id) for m in members] if self.caches else []
        return int(await self._sync(keys=[*self.names, *caches], args=args))

    async def remove(self, user_ids: Sequence[str]) -> None:
        """Take members off the board whatever PostgreSQL says (strays that are no user at all)."""
        if user_ids:
            args: list[str | int] = ["exact"]
            for uid in user_ids:
                args += [uid, 0, 0, "", 0]
            caches = [keys.score_cache(uid) for uid in user_ids] if self.caches else []
            await self._sync(keys=[*self.names, *caches], args=args)

    async def expire_at(self, epoch_seconds: int) -> None:
        """Let the board's keys expire at this time (a period's end plus its grace)."""
        await self._expire_at(keys=self.names, args=[epoch_seconds])

    async def rank_of(self, score: int) -> int:
        """The rank `score` has on the board now."""
        return int(await self._rank(keys=[*self.names, keys.BUILT], args=[score]))

    async def page(self, offset: int, limit: int) -> Page:
        """Rows `offset` .. `offset + limit - 1` in board order."""
        return _page(await self._page(keys=[*self.names, keys.BUILT], args=[offset, limit]), self.sign)

    async def around(self, user_id: UUID, radius: int) -> Page:
        """The user with up to `radius` neighbours above and below (no rows when not ranked)."""
        return _page(await self._around(keys=[*self.names, keys.BUILT], args=[str(user_id), radius]), self.sign)

    async def ranks(self, user_ids: Sequence[UUID]) -> Page:
        """The ranked rows of these users, in board order (unranked ones are left out)."""
        return _page(await self._ranks(keys=[*self.names, keys.BUILT], args=[str(u) for u in user_ids]), self.sign)

    async def score_range(self, low: int, high: int, offset: int, limit: int) -> Page:
        """Users with low <= score <= high, highest first."""
        return _page(await self._range(keys=[*self.names, keys.BUILT], args=[low, high, offset, limit]), self.sign)

    async def snapshot(self, limit: int) -> Snapshot:
        """The top `limit` rows with the last published event id, in one atomic read."""
        reply = await self._snapshot(keys=[*self.names, keys.SEQUENCE, keys.BUILT, keys.MIRROR], args=[limit])
        as_of = max(int(reply[2] or 0), int(reply[3] or 0))
        return Snapshot(int(reply[0]), bool(int(reply[1])), _page(reply[4:], self.sign), as_of)

    async def ranks_at(self, user_ids: Sequence[UUID]) -> tuple[int, Page]:
        """`ranks`, with the id of the last event they reflect (read atomically)."""
        reply = await self._ranks_at(keys=[*self.names, keys.SEQUENCE, keys.BUILT], args=[str(u) for u in user_ids])
        return int(reply[0]), _page(reply[1:], self.sign)


async def bulk_load(loader: Pipelined, names: Sequence[str], rows: Sequence[Any]) -> None:
    """Add (user id, score, reached ms, username) rows to empty staging keys: a few bulk commands per 1,000 rows."""
    # Plain commands rather than a script: each is short, so the awards and reads Redis serves meanwhile do not wait
    # behind a long one.
    board, ranked, usernames, reached = names  # keys.DERIVED's order
    sent = []
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        sent += [
            loader.execute("ZADD", board, *chain.from_iterable((r[1], r[0]) for r in chunk)),
            loader.execute("ZADD", ranked, *chain.from_iterable((r[1], keys.ranked(r[2], r[0])) for r in chunk)),
            loader.execute("HSET", reached, *chain.from_iterable((r[0], r[2]) for r in chunk)),
            loader.execute("HSET", usernames, *chain.from_iterable((r[0], r[3]) for r in chunk)),
        ]
    await asyncio.gather(*sent)
