"""The pipelined script client: replies reach their own callers, and every failure is a RedisError."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scoreboard.kit.pipelined import Pipelined

ECHO = "return {ARGV[1], redis.call('INCR', KEYS[1])}"


@pytest.fixture
async def pipelined(redis_url: str) -> AsyncIterator[Pipelined]:
    client = Pipelined.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_concurrent_calls_each_get_their_own_reply(pipelined: Pipelined, redis: Redis) -> None:
    echo = pipelined.register_script(ECHO)
    replies = await asyncio.gather(*(echo(keys=["n"], args=[i]) for i in range(300)))
    assert [reply[0] for reply in replies] == [str(i) for i in range(300)]
    assert sorted(reply[1] for reply in replies) == list(range(1, 301))
    assert await redis.get("n") == "300"


async def test_cancelled_callers_do_not_shift_the_replies_of_others(pipelined: Pipelined) -> None:
    echo = pipelined.register_script(ECHO)
    await echo(keys=["n"], args=["warm"])  # connected and loaded, so the calls below go out together
    calls = [asyncio.ensure_future(echo(keys=["n"], args=[i])) for i in range(100)]
    await asyncio.sleep(0)  # every call is queued on the connection
    for call in calls[::2]:
        call.cancel()
    kept = await asyncio.gather(*calls[1::2])
    assert [reply[0] for reply in kept] == [str(i) for i in range(1, 100, 2)]


async def test_arguments_keep_their_value(pipelined: Pipelined) -> None:
    echo_all = pipelined.register_script("return ARGV")
    assert await echo_all(args=[1.5, -7, "é ü", b"raw", ""]) == ["1.5", "-7", "é ü", "raw", ""]


async def test_a_script_the_server_forgot_is_loaded_again(pipelined: Pipelined, redis: Redis) -> None:
    echo = pipelined.register_script(ECHO)
    await echo(keys=["n"], args=["a"])
    await redis.script_flush()  # what a Redis restart does to the script cache
    assert await echo(keys=["n"], args=["b"]) == ["b", 2]
    assert await redis.script_exists(echo.sha) == [True]


async def test_an_error_reply_raises_and_the_connection_stays_usable(pipelined: Pipelined, redis: Redis) -> None:
    await redis.set("word", "not a number")
    with pytest.raises(ResponseError, match="not an integer"):
        await pipelined.execute("INCR", "word")
    assert await pipelined.execute("INCR", "n") == 1


async def test_a_dropped_connection_is_replaced_on_the_next_call(pipelined: Pipelined, redis: Redis) -> None:
    first = await pipelined.execute("CLIENT", "ID")
    await redis.client_kill_filter(_id=first)
    await asyncio.sleep(0.2)  # the close reaches us
    assert await pipelined.execute("INCR", "n") == 1
    assert await pipelined.execute("CLIENT", "ID") != first


async def test_the_database_in_the_url_is_selected(redis_url: str) -> None:
    url = urlsplit(redis_url)._replace(path="/9").geturl()
    client, check = Pipelined.from_url(url), Redis.from_url(url, decode_responses=True)
    try:
        await client.execute("SET", "pipelined:db-check", "here")
        assert await check.get("pipelined:db-check") == "here"
    finally:
        await check.delete("pipelined:db-check")
        await check.aclose()
        await client.aclose()


def test_every_kind_of_redis_url_makes_a_client() -> None:
    for url in ("redis://127.0.0.1:6380/0", "rediss://127.0.0.1:6380/0?ssl_cert_reqs=none", "unix:///tmp/v.sock?db=2"):
        assert isinstance(Pipelined.from_url(url), Pipelined)


async def test_no_server_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = Pipelined.from_url(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(RedisConnectionError):
            await client.execute("PING")


class Mute:
    """A TCP server that accepts and reads but never answers; it notes when a peer closes."""

    def __init__(self) -> None:
        self.accepted = 0
        self.closed = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        while await reader.read(1 << 16):
            pass
        self.closed += 1


@pytest.fixture
async def mute() -> AsyncIterator[tuple[Mute, int]]:
    peer = Mute()
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    try:
        yield peer, server.sockets[0].getsockname()[1]
    finally:
        for writer in peer.writers:
            writer.close()
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


async def test_a_server_that_never_answers_times_out_every_waiting_call(mute: tuple[Mute, int]) -> None:
    peer, port = mute
    client = Pipelined.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.3)
    try:
        started = time.monotonic()
        outcomes = await asyncio.gather(*(client.execute("PING") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(outcome, RedisTimeoutError) for outcome in outcomes)
        assert time.monotonic() - started < 2
        with pytest.raises(RedisTimeoutError):
            await client.execute("PING")  # a new connection, which times out in its turn
        assert peer.accepted == 2
    finally:
        await client.aclose()


async def test_callers_share_one_connect_attempt(mute: tuple[Mute, int]) -> None:
    """A Redis that accepts but never finishes the handshake costs every caller one connect timeout, not N."""
    peer, port = mute
    client = Pipelined.from_url(f"redis://127.0.0.1:{port}/3", connect_timeout=0.5)  # /3: a SELECT to wait for
    try:
        started = time.monotonic()
        outcomes = await asyncio.gather(*(client.execute("PING") for _ in range(6)), return_exceptions=True)
        assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes)
        assert time.monotonic() - started < 1.2
        assert peer.accepted == 1
    finally:
        await client.aclose()


async def test_a_caller_cancelled_mid_handshake_leaves_no_socket_open(mute: tuple[Mute, int]) -> None:
    peer, port = mute
    client = Pipelined.from_url(f"redis://127.0.0.1:{port}/3", connect_timeout=0.3)
    call = asyncio.ensure_future(client.execute("PING"))
    await asyncio.sleep(0.1)
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.5)  # the shared attempt times out and drops its socket
    assert (peer.accepted, peer.closed) == (1, 1)
    await client.aclose()


async def test_a_closed_client_refuses_calls(pipelined: Pipelined, redis: Redis) -> None:
    own_id = await pipelined.execute("CLIENT", "ID")
    await pipelined.aclose()
    with pytest.raises(RedisConnectionError):
        await pipelined.execute("PING")
    await asyncio.sleep(0.1)
    assert str(own_id) not in {str(client["id"]) for client in await redis.client_list()}


async def test_a_reply_that_is_not_utf8_fails_only_its_own_call(pipelined: Pipelined, redis_url: str) -> None:
    raw = Redis.from_url(redis_url)  # bytes in, bytes out
    try:
        await raw.set("binary", b"\xff\xfe")
    finally:
        await raw.aclose()
    outcomes = await asyncio.gather(
        pipelined.execute("PING"), pipelined.execute("GET", "binary"), pipelined.execute("PING"), return_exceptions=True
    )
    assert outcomes[0] == outcomes[2] == "PONG"
    assert isinstance(outcomes[1], ResponseError)
