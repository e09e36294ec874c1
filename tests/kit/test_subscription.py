"""The live subscription: every message in order, taken in batches; a lost or silent Redis is an error, not a hang."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scoreboard.kit.pipelined import Pipelined
from scoreboard.kit.subscription import Message, Subscription

CHANNELS = ("test:one", "test:two")


@pytest.fixture
async def subscription(redis_url: str) -> AsyncIterator[Subscription]:
    opened = await Subscription.open(Pipelined.from_url(redis_url), CHANNELS, idle_seconds=0.2)
    try:
        yield opened
    finally:
        opened.close()


async def test_every_message_arrives_in_order_and_those_that_came_together_are_taken_together(
    subscription: Subscription, redis: Redis
) -> None:
    sent = [(CHANNELS[i % 2], f"message {i}") for i in range(300)]
    async with redis.pipeline(transaction=False) as pipe:
        for channel, data in sent:
            pipe.publish(channel, data)
        await pipe.execute()
    await asyncio.sleep(0.2)  # all of them are in before the first read
    batches: list[list[Message]] = []
    while sum(map(len, batches)) < len(sent):
        batches.append(await asyncio.wait_for(subscription.get(), 5))
    assert [m for batch in batches for m in batch] == sent
    assert len(batches) == 1


async def test_a_quiet_channel_is_waited_on_while_redis_answers_pings(subscription: Subscription, redis: Redis) -> None:
    with pytest.raises(TimeoutError):  # five idle periods: pinged, answered, still subscribed
        await asyncio.wait_for(subscription.get(), 1.0)
    await redis.publish(CHANNELS[1], "late")
    assert await asyncio.wait_for(subscription.get(), 5) == [(CHANNELS[1], "late")]


async def test_a_connection_redis_drops_is_an_error(subscription: Subscription, redis: Redis) -> None:
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0.1)
    assert await redis.client_kill_filter(_type="pubsub") >= 1
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(RedisConnectionError):
        await subscription.get()  # and stays one: the caller subscribes anew


async def _silent_after_subscribing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Confirm one subscription as Redis does, then read on and never answer (a peer that hangs)."""
    await reader.readuntil(b"test:one\r\n")
    writer.write(b"*3\r\n$9\r\nsubscribe\r\n$8\r\ntest:one\r\n:1\r\n")
    await writer.drain()
    with contextlib.suppress(ConnectionError):
        while await reader.read(1 << 16):
            pass
    writer.close()


async def test_a_redis_that_stops_answering_is_an_error_within_the_idle_and_reply_timeouts() -> None:
    server = await asyncio.start_server(_silent_after_subscribing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = Pipelined.from_url(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        subscription = await Subscription.open(client, ("test:one",), idle_seconds=0.2)
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(subscription.get(), 5)
        assert time.monotonic() - started < 1.5
        subscription.close()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


async def test_past_the_queue_limit_the_socket_waits_for_the_reader_and_nothing_is_lost(
    redis_url: str, redis: Redis
) -> None:
    subscription = await Subscription.open(Pipelined.from_url(redis_url), CHANNELS, max_queued=10)
    try:
        sent = [(CHANNELS[0], f"{i:04d}" + "x" * 2000) for i in range(500)]  # ~1 MB: more than one socket read
        async with redis.pipeline(transaction=False) as pipe:
            for channel, data in sent:
                pipe.publish(channel, data)
            await pipe.execute()
        await asyncio.sleep(0.3)
        batches: list[list[Message]] = []
        while sum(map(len, batches)) < len(sent):
            batches.append(await asyncio.wait_for(subscription.get(), 5))
        assert [m for batch in batches for m in batch] == sent
        assert len(batches[0]) < len(sent)  # reading paused while the first messages waited for the reader
    finally:
        subscription.close()


async def test_a_message_that_is_not_utf8_is_dropped_alone(subscription: Subscription, redis: Redis) -> None:
    await redis.publish(CHANNELS[0], b"\xff\xfe not text")
    await redis.publish(CHANNELS[0], "after it")
    assert await asyncio.wait_for(subscription.get(), 5) == [(CHANNELS[0], "after it")]
    await redis.publish(CHANNELS[1], "still subscribed")
    assert await asyncio.wait_for(subscription.get(), 5) == [(CHANNELS[1], "still subscribed")]
