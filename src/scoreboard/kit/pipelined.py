"""Script calls on one pipelined Redis connection: many requests in flight, replies matched in order."""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import hiredis
from redis.asyncio.connection import UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Why not redis-py here: its client spends ~55 µs of CPU per script call (a pool checkout, a retry wrapper, a
# socket write and read of its own), and an award makes two. Here a call is a future in a FIFO; the commands
# issued in one loop iteration leave in one write and the replies come back in order: ~5 µs per call.
# Errors are redis-py's exception classes, so callers' `except RedisError` handling is the same for both.

Arg = str | int | float | bytes
CONNECT_TIMEOUT_SECONDS = 2.0  # also the redis-py pool's (scoreboard.redis)
REPLY_TIMEOUT_SECONDS = 5.0


class ScriptHost(Protocol):
    """Something that loads scripts (redis-py's `Redis` or `Pipelined`)."""

    def register_script(self, script: str) -> Any: ...


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP."""
    # C: the same bytes as redis-py's packer, ~3x faster than in Python. (The stub types it as a 1-tuple.)
    command: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    return command


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


class _Connection(asyncio.Protocol):
    """One socket: sends commands in batches, resolves their futures in order, fails them all when lost."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader(encoding="utf-8")
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost: RedisError | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue `command`; it leaves with the others of this loop iteration."""
        if self.lost is not None:
            raise type(self.lost)(*self.lost.args)
        future = self._loop.create_future()
        now = self._loop.time()
        self._pending.append((future, now))
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(command)
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(now + self._timeout, self._watch)
        return future

    def _flush(self) -> None:
        if self._transport is not None and self.lost is None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _watch(self) -> None:
        # One timer per connection, not one per call: the oldest unanswered call decides.
        self._watchdog = None
        if self._pending:
            deadline = self._pending[0][1] + self._timeout
            if deadline <= self._loop.time():
                self.abort(RedisTimeoutError(f"Redis did not answer within {self._timeout} s"))
            else:
                self._watchdog = self._loop.call_at(deadline, self._watch)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        pending = self._pending
        try:
            while True:
                try:
                    reply = self._reader.gets()
                except UnicodeDecodeError as exc:  # fails that reply only: the reader stays in step with the stream
                    reply = ResponseError(f"Redis replied with bytes that are not UTF-8 ({exc})")
                if reply is False:
                    return
                future, _ = pending.popleft()
                if future.done():  # its caller gave up (cancelled); the reply still had to be read
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(_error(reply))
                elif isinstance(reply, ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except Exception as exc:  # a reply we cannot read (or one nobody asked for): the stream is out of step
            self.abort(RedisConnectionError(f"Redis protocol error: {exc!r}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis closed the connection ({exc or 'EOF'})"))

    def abort(self, error: RedisError) -> None:
        """Drop the connection; every call still waiting gets `error`."""
        self._fail(error)
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, error: RedisError) -> None:
        if self.lost is None:
            self.lost = error
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._pending:
            future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(type(error)(*error.args))  # one instance each: tracebacks are per raise


class Script:
    """A script called by SHA; loaded by EVAL the first time the server does not know it (e.g. after a restart)."""

    __slots__ = ("_client", "sha", "source")

    def __init__(self, client: Pipelined, source: str) -> None:
        self._client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[Arg] = ()) -> Any:
        """Run the script."""
        try:
            return await self._client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.execute("EVAL", self.source, len(keys), *keys, *args)


class Pipelined:
    """A Redis client for script calls on the request path: one connection per process, reconnected on demand."""

    def __init__(self, params: dict[str, Any], *, connect_timeout: float, timeout: float) -> None:
        self._params = params
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._connection: _Connection | None = None
        self._opening: asyncio.Future[_Connection] | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS, timeout: float = REPLY_TIMEOUT_SECONDS
    ) -> Pipelined | None:
        """A client for `redis://` and `unix://` URLs; None for TLS (`rediss://`), which stays on redis-py."""
        params: dict[str, Any] = dict(parse_url(url))
        kind = params.pop("connection_class", None)
        if kind is not None and kind is not UnixDomainSocketConnection:
            return None
        return cls(params, connect_timeout=connect_timeout, timeout=timeout)

    def register_script(self, script: str) -> Script:
        """A script bound to this client."""
        return Script(self, script)

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply."""
        connection = self._connection
        if connection is None or connection.lost is not None:
            connection = await self._connected()
        return await connection.send(pack(args))

    async def _connected(self) -> _Connection:
        if self._closed:
            raise RedisConnectionError("the Redis client was closed")
        opening = self._opening
        if opening is None:
            # One attempt shared by every caller: when Redis hangs, each waits one connect timeout, not its turn.
            # Shielded, so a caller that gives up does not abandon a half-open socket.
            opening = self._opening = asyncio.ensure_future(self._open())
            opening.add_done_callback(self._opened)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if opening.cancelled() and not (task is not None and task.cancelling()):
                raise RedisConnectionError("the Redis client was closed") from None  # aclose() stopped the attempt
            raise

    def _opened(self, opening: asyncio.Future[_Connection]) -> None:
        self._opening = None
        if opening.cancelled() or opening.exception() is not None:
            return
        connection = opening.result()
        if self._closed:
            connection.abort(RedisConnectionError("the Redis client was closed"))
        else:
            self._connection = connection

    async def _open(self) -> _Connection:
        loop, params = asyncio.get_running_loop(), self._params
        transport: asyncio.Transport | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                if "path" in params:
                    transport, connection = await loop.create_unix_connection(
                        lambda: _Connection(self._timeout), params["path"]
                    )
                else:
                    transport, connection = await loop.create_connection(
                        lambda: _Connection(self._timeout), params.get("host", "localhost"), params.get("port", 6379)
                    )
                hello = []
                if params.get("password") is not None:
                    user = [params["username"]] if params.get("username") else []
                    hello.append(connection.send(pack(["AUTH", *user, params["password"]])))
                if params.get("db"):
                    hello.append(connection.send(pack(["SELECT", params["db"]])))
                # Every reply is read (a failed AUTH also fails the SELECT behind it); the first failure is raised.
                for reply in await asyncio.gather(*hello, return_exceptions=True):
                    if isinstance(reply, BaseException):
                        raise reply
        except BaseException as exc:  # cancelled too: a socket mid-handshake must not be left open
            if transport is not None:
                transport.abort()
            if isinstance(exc, OSError | TimeoutError):
                raise RedisConnectionError(f"Error connecting to Redis: {exc!r}") from exc
            raise
        return connection

    async def aclose(self) -> None:
        """Close the connection and refuse further calls; calls still waiting fail with a connection error."""
        self._closed = True
        if self._opening is not None:
            self._opening.cancel()
        if self._connection is not None:
            self._connection.abort(RedisConnectionError("the Redis client was closed"))
            self._connection = None
