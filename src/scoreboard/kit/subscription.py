"""A Redis pub/sub subscription on a connection of its own, whose messages are taken in batches."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from scoreboard.kit.pipelined import Pipelined, RespConnection, pack

log = logging.getLogger(__name__)

# Why not redis-py's PubSub: every process receives every award, and its `get_message` runs a retry helper, a
# health check, a timeout and a metrics hook per message (docs/performance.md has what that costs). Here a read
# hands over every message that arrived with it.
Message = tuple[str, str]  # (channel, data)
# Past this many unread messages the socket is no longer read: Redis then holds them, up to its pub/sub output
# buffer limit, past which it drops the connection and the subscriber starts afresh, rather than this process growing.
MAX_QUEUED = 10_000


class _Subscribed(RespConnection):
    """A connection in subscribe mode: messages queue for the reader; other replies answer their commands."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout)
        # Bytes, decoded per message: anyone may publish to a channel, and one message that is not UTF-8 is dropped
        # alone rather than taking the subscription down with it.
        self._reader = hiredis.Reader()
        self.messages: deque[Message] = deque()
        self.arrived: asyncio.Future[None] | None = None
        self.max_queued = MAX_QUEUED
        self._paused = False
        self._heard = True
        self._pinger: asyncio.TimerHandle | None = None

    def taken(self) -> None:
        """The reader took the queued messages: read the socket again if it was paused."""
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def ping_when_idle(self, seconds: float) -> None:
        """Ping Redis when nothing came for `seconds`: a peer that stopped answering is dropped by the reply timeout."""
        loop = asyncio.get_running_loop()

        def check() -> None:
            if self.lost is not None:
                return
            if not self._heard:
                self.send(pack(["PING"])).add_done_callback(_read_outcome)
            self._heard = False
            self._pinger = loop.call_later(seconds, check)

        self._pinger = loop.call_later(seconds, check)

    def data_received(self, data: bytes) -> None:
        self._heard = True
        super().data_received(data)

    def _answer(self, pending: deque[tuple[asyncio.Future[Any], float]], reply: Any) -> None:
        if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
            try:
                self.messages.append((reply[1].decode(), reply[2].decode()))
            except UnicodeDecodeError:
                log.warning("ignored a message on %r that is not UTF-8", reply[1])
                return
            if self.arrived is not None and not self.arrived.done():
                self.arrived.set_result(None)
            if len(self.messages) >= self.max_queued and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
        else:  # AUTH, SELECT, each channel's subscribe confirmation, a PING's pong
            super()._answer(pending, reply)

    def _fail(self, error: RedisError) -> None:
        super()._fail(error)
        if self._pinger is not None:
            self._pinger.cancel()
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_exception(type(error)(*error.args))


def _read_outcome(future: asyncio.Future[Any]) -> None:
    # A pong, or the error that dropped the connection (which the reader meets on its own).
    if not future.cancelled():
        future.exception()


class Subscription:
    """Messages of the channels subscribed to, in the order Redis sent them; a lost connection raises."""

    def __init__(self, connection: _Subscribed) -> None:
        self._connection = connection

    @classmethod
    async def open(
        cls, client: Pipelined, channels: tuple[str, ...], idle_seconds: float = 30.0, max_queued: int = MAX_QUEUED
    ) -> Subscription:
        """Subscribe to `channels` on a new connection of `client`'s server; Redis is pinged after `idle_seconds`."""
        connection = await client.dedicated(_Subscribed)
        connection.max_queued = max_queued
        try:
            for confirmed in await asyncio.gather(*(connection.send(pack(["SUBSCRIBE", c])) for c in channels)):
                if not (isinstance(confirmed, list) and confirmed[:1] == [b"subscribe"]):
                    raise RedisConnectionError(f"Redis did not confirm a subscription: {confirmed!r}")
        except BaseException:
            connection.abort(RedisConnectionError("subscription abandoned"))
            raise
        connection.ping_when_idle(idle_seconds)
        return cls(connection)

    async def get(self) -> list[Message]:
        """Every message received since the last call, waiting for one if there is none."""
        connection = self._connection
        while not connection.messages:
            if connection.lost is not None:
                raise type(connection.lost)(*connection.lost.args)
            connection.arrived = asyncio.get_running_loop().create_future()
            try:
                await connection.arrived
            finally:
                connection.arrived = None
        messages = list(connection.messages)
        connection.messages.clear()
        connection.taken()
        return messages

    def close(self) -> None:
        """Drop the connection (Redis forgets the subscription with it)."""
        self._connection.abort(RedisConnectionError("the subscription was closed"))
