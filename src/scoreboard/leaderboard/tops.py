"""Each board's current top in this process's memory: read once per change, answered without Redis, with ETags."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Response
from redis.exceptions import RedisError

from scoreboard.leaderboard.board import EPOCH, Board, Page

GLOBAL = "global"
log = logging.getLogger(__name__)


def key_of(board_id: str, period: str) -> str:
    """The key of a board's period (`global` for the seed's board)."""
    return GLOBAL if board_id == GLOBAL else f"{board_id}:{period}"


@dataclass
class Top:
    """A board's top rows as Redis had them after event `event_id`, read at `at`."""

    page: Page
    event_id: int
    at: datetime
    read_at: float  # monotonic
    answers: dict[tuple[Any, ...], tuple[bytes, str]] = field(default_factory=dict)  # rendered bodies and ETags

    def answer(self, shape: tuple[Any, ...], render: Callable[[Top], bytes]) -> tuple[bytes, str]:
        """A response body of this top (rendered once per shape) and its strong ETag."""
        found = self.answers.get(shape)
        if found is None:
            body = render(self)
            found = self.answers[shape] = (body, f'"{hashlib.sha1(body).hexdigest()[:24]}"')  # noqa: S324 - a tag
        return found


class Tops:
    """The tops of every board's current period this process answers: refreshed when an award moves them.

    The process's subscription calls `moved` for every award (with the boards it counted on): the next read of a
    moved board reads it again, once for all readers at that moment. An award made here moves its boards at once.
    A top also expires after `max_age` seconds, so a lost subscription cannot serve an old top for long.
    """

    def __init__(self, size: int, max_age: float = 1.0) -> None:
        self.size, self.max_age = size, max_age
        self._tops: dict[str, Top] = {}
        self._moves: dict[str, int] = {}
        self._reading: dict[str, asyncio.Future[Top | None]] = {}

    def moved(self, keys: Iterable[str]) -> None:
        """Forget these tops: an award changed them."""
        for key in keys:
            self._tops.pop(key, None)
            self._moves[key] = self._moves.get(key, 0) + 1

    def moved_by(self, message: Mapping[str, Any]) -> None:
        """Forget the tops a `score_update` message changed (the global board and every board it names)."""
        boards = message.get("boards") or ()
        self.moved([GLOBAL, *(key_of(str(b["boardId"]), str(b["period"])) for b in boards if isinstance(b, dict))])

    def clear(self) -> None:
        """Forget every top, and keep none being read now (a resubscribe or a rebuild: what was missed is unknown)."""
        self.moved({*self._tops, *self._reading})

    async def top(self, key: str, board: Board) -> Top | None:
        """The board's top, from memory when nothing moved it (None while Redis is being rebuilt)."""
        found = self._tops.get(key)
        if found is not None and time.monotonic() - found.read_at < self.max_age:
            return found
        pending = self._reading.get(key)
        if pending is None:
            pending = self._reading[key] = asyncio.ensure_future(self._read(key, board))
            pending.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(pending)

    async def _read(self, key: str, board: Board) -> Top | None:
        moves = self._moves.get(key, 0)
        snapshot = await board.snapshot(self.size)
        if not snapshot.built:
            return None
        # Answers say the board is as of its last change (from Redis, the same in every process), so the same board
        # gives every process the same bytes, and the same ETag.
        as_of = EPOCH + timedelta(microseconds=snapshot.as_of_us) if snapshot.as_of_us else datetime.now(UTC)
        top = Top(snapshot.page, snapshot.event_id, as_of, time.monotonic())
        if self._moves.get(key, 0) == moves:  # moved while we read: answer with it, but do not keep it
            if len(self._tops) > 4096:  # finished periods are never asked for again
                self._tops.clear()
            self._tops[key] = top
        return top


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: `If-None-Match` names the current ETag (no body)"}
}
IfNoneMatch = Annotated[
    str | None,
    Header(description="An ETag of an earlier answer: `304` with no body while the board has not moved since"),
]


def respond(
    top: Top, shape: tuple[Any, ...], render: Callable[[Top], str], if_none_match: str | None, cache_seconds: int
) -> Response:
    """The answer built from a top: its body (rendered once per shape), or `304` when the client has it."""
    body, etag = top.answer(shape, lambda t: render(t).encode())
    headers = {"ETag": etag, "Cache-Control": cache_control(cache_seconds), "X-Scoreboard-Source": "redis"}
    if matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def from_memory(
    memory: Tops,
    key: str,
    board: Board,
    rows: tuple[int, int],
    render: Callable[[Top], str],
    if_none_match: str | None,
    cache_seconds: int,
) -> Response | None:
    """Answer rows (offset, limit) of a board's top from this process's memory, or `304` when the client has them.

    None: the rows lie past the kept top, or Redis cannot say (the caller reads the usual way).
    """
    offset, limit = rows
    if offset + limit > memory.size:
        return None
    try:
        found = await memory.top(key, board)
    except RedisError as exc:
        log.warning("board top not kept in memory: Redis unavailable (%s)", exc)
        return None
    if found is None:
        return None
    return respond(found, (key, offset, limit), render, if_none_match, cache_seconds)


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cache_control(seconds: int) -> str:
    """How long a client or CDN may reuse a board answer without asking (0: ask every time, with the ETag)."""
    return f"public, max-age={seconds}" if seconds > 0 else "no-cache"
