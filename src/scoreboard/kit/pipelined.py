"""The request path's Redis client: one pipelined connection, many calls in flight, replies matched in order."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Why not redis-py here: its client checks a connection out of a pool, wraps each call in a retry helper and
# writes and reads the socket itself, per call. Here a call is a future in a FIFO; the commands issued in one loop
# iteration leave in one write and the replies come back in order (docs/performance.md has the costs).
# Errors are redis-py's exception classes, so callers' `except RedisError` handling is the same for both.
# redis-py stays for what is not on the request path but the live subscription (kit/subscription.py): background
# passes and admin commands.

Arg = str | int | float | bytes
Opened = TypeVar("Opened", bound="RespConnection")
CONNECT_TIMEOUT_SECONDS = 2.0  # also the redis-py pool's (scoreboard.redis)
REPLY_TIMEOUT_SECONDS = 5.0


class ScriptHost(Protocol):
    """Something that loads scripts (redis-py's `Redis` or `Pipelined`)."""

    def register_script(self, script: str) -> Any: ...


def pack(args: Sequence[Arg]) -> bytes:
    """One command in RESP."""
    # C: the same bytes as redis-py's packer, without Python's per-argument work. (The stub types it as a 1-tuple.)
    command: bytes = hiredis.pack_command(tuple(args))  # type: ignore[arg-type]
    return command


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


class RespConnection(asyncio.Protocol):
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
                self._answer(pending, reply)
        except Exception as exc:  # a reply we cannot read (or one nobody asked for): the stream is out of step
            self.abort(RedisConnectionError(f"Redis protocol error: {exc!r}"))

    def _answer(self, pending: deque[tuple[asyncio.Future[Any], float]], reply: Any) -> None:
        """Resolve the oldest call with `reply`."""
        future, _ = pending.popleft()
        if future.done():  # its caller gave up (cancelled); the reply still had to be read
            return
        if isinstance(reply, hiredis.ReplyError):
            future.set_exception(_error(reply))
        elif isinstance(reply, ResponseError):
            future.set_exception(reply)
        else:
            future.set_result(reply)

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
        self._connection: RespConnection | None = None
        self._opening: asyncio.Future[RespConnection] | None = None
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS, timeout: float = REPLY_TIMEOUT_SECONDS
    ) -> Pipelined:
        """A client for a `redis://`, `rediss://` (TLS) or `unix://` URL, as redis-py reads them."""
        params: dict[str, Any] = dict(parse_url(url))
        if params.pop("connection_class", None) is SSLConnection:
            params["ssl"] = _tls_context(params)
        return cls(params, connect_timeout=connect_timeout, timeout=timeout)

    @classmethod
    def like(cls, client: Redis) -> Pipelined:
        """A client for the server and database a redis-py client talks to (for bulk work off the request path)."""
        given = client.connection_pool.connection_kwargs
        params: dict[str, Any] = {
            k: given[k] for k in ("host", "port", "db", "password", "username", "path") if k in given
        }
        if issubclass(client.connection_pool.connection_class, SSLConnection):
            params["ssl"] = _tls_context({k: v for k, v in given.items() if k in TLS_SETTINGS})
        return cls(params, connect_timeout=CONNECT_TIMEOUT_SECONDS, timeout=REPLY_TIMEOUT_SECONDS)

    async def dedicated(self, protocol: type[Opened]) -> Opened:
        """A connection of its own to the same server, speaking `protocol` (a subscription's, say)."""
        connection = await self._open(protocol)
        assert isinstance(connection, protocol)
        return connection

    def register_script(self, script: str) -> Script:
        """A script bound to this client."""
        return Script(self, script)

    async def execute(self, *args: Arg) -> Any:
        """Send one command and wait for its reply."""
        connection = self._connection
        if connection is None or connection.lost is not None:
            connection = await self._connected()
        return await connection.send(pack(args))

    async def get(self, key: str) -> str | None:
        """GET."""
        value: str | None = await self.execute("GET", key)
        return value

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        """MGET."""
        values: list[str | None] = await self.execute("MGET", *keys)
        return values

    async def set(self, key: str, value: Arg, *, ex: int | None = None, nx: bool = False) -> bool:
        """SET, optionally with a TTL in seconds (EX) and only if absent (NX); whether it was set."""
        args: list[Arg] = ["SET", key, value]
        if ex is not None:
            args += ["EX", ex]
        if nx:
            args.append("NX")
        return await self.execute(*args) is not None

    async def getdel(self, key: str) -> str | None:
        """GETDEL."""
        value: str | None = await self.execute("GETDEL", key)
        return value

    async def exists(self, *keys: str) -> int:
        """EXISTS: how many of `keys` exist."""
        count: int = await self.execute("EXISTS", *keys)
        return count

    async def delete(self, *keys: str) -> int:
        """DEL: how many of `keys` existed."""
        count: int = await self.execute("DEL", *keys)
        return count

    async def ping(self) -> bool:
        """PING."""
        reply: str = await self.execute("PING")
        return reply == "PONG"

    async def _connected(self) -> RespConnection:
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

    def _opened(self, opening: asyncio.Future[RespConnection]) -> None:
        self._opening = None
        if opening.cancelled() or opening.exception() is not None:
            return
        connection = opening.result()
        if self._closed:
            connection.abort(RedisConnectionError("the Redis client was closed"))
        else:
            self._connection = connection

    async def _open(self, protocol: type[RespConnection] = RespConnection) -> RespConnection:
        loop, params = asyncio.get_running_loop(), self._params
        transport: asyncio.Transport | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                if "path" in params:
                    transport, connection = await loop.create_unix_connection(
                        lambda: protocol(self._timeout), params["path"]
                    )
                else:
                    transport, connection = await loop.create_connection(
                        lambda: protocol(self._timeout),
                        params.get("host", "localhost"),
                        params.get("port", 6379),
                        ssl=params.get("ssl"),
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


# The TLS settings redis-py reads from a `rediss://` URL's query (or takes as its client's arguments).
TLS_SETTINGS = (
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_ca_data",
    "ssl_check_hostname",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_min_version",
    "ssl_ciphers",
)


def _tls_context(params: dict[str, Any]) -> ssl.SSLContext:
    """The TLS settings of a `rediss://` URL, as redis-py applies them: CA, verification, client certificate."""
    settings = {k: params.pop(k) for k in TLS_SETTINGS if k in params}
    context = ssl.create_default_context(
        cafile=settings.get("ssl_ca_certs"), capath=settings.get("ssl_ca_path"), cadata=settings.get("ssl_ca_data")
    )
    verify = settings.get("ssl_cert_reqs", "required")
    verify = (verify.name if isinstance(verify, ssl.VerifyMode) else str(verify)).lower()  # a client's may be an enum
    # redis-py's URL parser has made `ssl_check_hostname` a bool (or None when empty), as a client's argument is.
    context.check_hostname = bool(settings.get("ssl_check_hostname", True)) and verify in ("required", "cert_required")
    if verify in ("none", "cert_none"):
        context.verify_mode = ssl.CERT_NONE
    elif verify in ("optional", "cert_optional"):
        context.verify_mode = ssl.CERT_OPTIONAL
    if settings.get("ssl_certfile"):
        context.load_cert_chain(settings["ssl_certfile"], settings.get("ssl_keyfile"), settings.get("ssl_password"))
    if settings.get("ssl_min_version") is not None:
        context.minimum_version = settings["ssl_min_version"]
    if settings.get("ssl_ciphers"):
        context.set_ciphers(settings["ssl_ciphers"])
    return context
