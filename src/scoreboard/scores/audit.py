"""Batched, off-the-request-path writes of rate-limit rejections into `rate_limit_audit`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from scoreboard.db import Pool

log = logging.getLogger(__name__)

COLUMNS = ["user_id", "endpoint", "attempt_count", "limit_exceeded", "ip_address"]
# What one bad row raises: a value PostgreSQL refuses (class 22), a broken constraint (class 23: the user is gone),
# or one asyncpg cannot encode.
ROW_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,
    TypeError,
)


@dataclass(frozen=True)
class Rejection:
    """One refused request, as the seed's audit table records it."""

    user_id: UUID
    endpoint: str
    attempt_count: int
    ip_address: str | None
    limit_exceeded: bool = True


class AuditWriter:
    """Queue rows in memory and COPY them in batches; a graceful shutdown writes what is queued."""

    def __init__(self, pool: Pool, *, max_batch: int = 500, max_queue: int = 50_000, interval: float = 0.2):
        self._pool = pool
        self._queue: asyncio.Queue[Rejection] = asyncio.Queue(max_queue)
        self._max_batch = max_batch
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.refused = 0  # rows PostgreSQL would not take (invalid data): logged and dropped, not retried
        self.drain_seconds = 10.0

    def record(self, rejection: Rejection) -> None:
        """Queue a row without waiting; only a queue full for a long PostgreSQL outage drops rows."""
        try:
            self._queue.put_nowait(rejection)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("rate-limit audit queue full: dropped a row (%d so far)", self.dropped)

    def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.create_task(self._run(), name="rate-limit-audit-writer")

    async def close(self) -> None:
        """Write everything still queued (within the drain deadline), then stop the writer."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(self.drain_seconds):
                await self._queue.join()
        except TimeoutError:
            log.error("rate-limit audit: %d rows unwritten at shutdown", self._queue.qsize())
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def flush(self) -> None:
        """Wait until every row queued so far is written."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            await asyncio.sleep(self._interval)  # let a burst gather into one COPY
            batch = [first, *self._take_batch(self._max_batch - 1)]
            pending = batch
            while pending:
                try:
                    await self._write(pending)
                    pending = []
                except ROW_ERRORS:
                    # A row PostgreSQL refuses would fail every retry of its batch and stop the whole trail.
                    pending = await self._write_each(pending)
                except Exception:
                    log.exception("could not write %d rate-limit audit rows; retrying", len(pending))
                    await asyncio.sleep(1.0)
            for _ in batch:
                self._queue.task_done()

    async def _write_each(self, rows: list[Rejection]) -> list[Rejection]:
        """Write rows one at a time, dropping those refused; return the rest if PostgreSQL becomes unreachable."""
        for i, row in enumerate(rows):
            try:
                await self._write([row])
            except ROW_ERRORS as exc:
                self.refused += 1
                log.error("rate-limit audit: dropped a row PostgreSQL refuses (%r): %r", exc, row)
            except Exception:
                log.exception("could not write %d rate-limit audit rows; retrying", len(rows) - i)
                await asyncio.sleep(1.0)
                return rows[i:]
        return []

    def _take_batch(self, most: int) -> list[Rejection]:
        batch: list[Rejection] = []
        while len(batch) < most and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _write(self, batch: list[Rejection]) -> None:
        if not batch:
            return
        records = [(r.user_id, r.endpoint, r.attempt_count, r.limit_exceeded, r.ip_address) for r in batch]
        async with self._pool.acquire() as conn:
            await conn.copy_records_to_table("rate_limit_audit", records=records, columns=COLUMNS)
