"""Run a coroutine inline until it first has to wait: how one event reaches many sockets without a task each."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_inline(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` now, inside this call; if it must wait, return a task that finishes it, else None."""
    # An ASGI send to a socket with room in its buffer does not suspend: stepping it here costs one call instead
    # of a task and a loop turn per client, which is what lets one process feed thousands of streams.
    try:
        yielded = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_finish(coro, yielded))


async def _finish(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    """Drive `coro` on from the future it suspended on, as its task would have."""
    while True:
        try:
            if yielded is None:
                await asyncio.sleep(0)  # a bare yield: just give the loop a turn
            else:
                # Wait without awaiting the future itself: it is already marked as awaited by `coro`, and
                # `coro` reads its outcome (result or error) when resumed.
                await asyncio.wait([yielded])
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
