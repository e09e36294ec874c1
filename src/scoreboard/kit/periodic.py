"""Background work repeated every few seconds, stopped cooperatively on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import redis.exceptions

log = logging.getLogger(__name__)
# Store outages are expected and retried quietly; anything else is a bug worth a traceback.
EXPECTED = (OSError, TimeoutError, redis.exceptions.RedisError)


class Periodic:
    """Run `step()` every `every` seconds until `stop()`."""

    def __init__(self, name: str, step: Callable[[], Awaitable[object]], every: float) -> None:
        self.name = name
        self._step = step
        self._every = every
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, deadline: float = 10.0) -> None:
        """Stop: the flag ends the loop even if a library swallows the cancellation of one await."""
        self._stopping.set()
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(deadline):
                await self._task
        if not self._task.done():
            log.error("%s did not stop within %ss", self.name, deadline)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._step()
            except EXPECTED as exc:
                log.warning("%s: skipped a pass (%s)", self.name, exc)
            except Exception:
                log.exception("%s: pass failed", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._every):
                    await self._stopping.wait()
