"""Who gets an event straight on its socket: the hub's clients, kept ready for a broadcast to 10,000 streams."""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress
from operator import call, ne, or_
from typing import TYPE_CHECKING, Any, TypeVar

from scoreboard.kit.spread import Spreader
from scoreboard.live.events import Event

if TYPE_CHECKING:
    from scoreboard.live.client import Client

T = TypeVar("T")


class Roster:
    """Every client of a hub: those that take events directly on their sockets, as parallel lists, and the others."""

    # Deciding per event which of 10,000 clients may be written to directly took ~13 ms of Python before the first
    # write, and settling them ~3 ms after the last. The decision is now kept up to date as clients change state
    # (`enter`, `leave`), so a broadcast only checks each socket (C-level passes) and settles the exceptions.

    __slots__ = ("_at", "busy", "clients", "closing", "fds", "floor", "limits", "others", "transports")

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.fds: list[int] = []
        self.limits: list[int] = []
        self.transports: list[Any] = []
        # Each transport's class's is_closing and get_write_buffer_size: shared functions, not a bound method per
        # client (10,000 of those would be ~1.3 MB).
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

    def enter(self, client: Client, fd: int, transport: Any) -> None:
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
        _take(self.clients, at)
        _take(self.fds, at)
        _take(self.limits, at)
        _take(self.transports, at)
        _take(self.closing, at)
        _take(self.busy, at)
        if at != last:
            self._at[self.clients[at]] = at
        self.others.add(client)
        if not self._at:
            self.floor = 0

    def broadcast(self, event: Event, spreader: Spreader) -> None:
        """Write `event` to every direct client's socket from `spreader`'s threads; push it to the others."""
        members, fds, count = list(self.clients), list(self.fds), len(self.clients)
        table = {limit: event.chunk(limit) for limit in set(self.limits)}
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
