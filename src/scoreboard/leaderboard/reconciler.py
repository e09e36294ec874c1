"""Keep Redis equal to PostgreSQL: atomic rebuilds, a watermark reconciler, drift checks and repairs."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from scoreboard.db import Pool
from scoreboard.leaderboard import keys, repository
from scoreboard.leaderboard.board import Board, epoch_ms
from scoreboard.leaderboard.service import member_of

log = logging.getLogger(__name__)
BATCH = 2000
# Transactions commit after they stamp updated_at; look back this far so a slow commit is not skipped.
LAG = timedelta(seconds=5)

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def rebuild(
    pool: Pool, redis: Redis, progress: Callable[[int], None] | None = None, lock_seconds: int = 600
) -> int | None:
    """Rebuild the board from PostgreSQL into temporary keys and swap them in at once; None if another runs."""
    token = secrets.token_hex(8)
    if not await redis.set(keys.REBUILD_LOCK, token, nx=True, ex=lock_seconds):
        return None
    temp = [f"{name}:rebuild:{token}" for name in keys.DERIVED]
    staging = Board(redis, names=temp)
    try:
        async with pool.acquire() as conn:
            started = await repository.database_now(conn)
        count, after = 0, None
        while True:
            async with pool.acquire() as conn:
                rows = await repository.active_members_after(conn, after, BATCH)
            if not rows:
                break
            await staging.sync([member_of(r) for r in rows], mode="exact")
            count += len(rows)
            after = rows[-1]["id"]
            if progress:
                progress(len(rows))
        # One MULTI/EXEC: readers see the old board or the whole new one, never a half-built one.
        async with redis.pipeline(transaction=True) as pipe:
            for source, target in zip(temp, keys.DERIVED, strict=True):
                if count:
                    pipe.rename(source, target)
                else:  # no active players: nothing was staged, so the board is simply empty
                    pipe.delete(target)
            pipe.set(keys.BUILT, started.isoformat())
            await pipe.execute()
        # Awards that landed on the old keys while we copied: re-apply everything changed since we began.
        await reconcile_since(pool, Board(redis), started - LAG)
        log.info("leaderboard rebuilt: %d players", count)
        return count
    finally:
        await redis.delete(*temp)
        await redis.eval(_RELEASE, 1, keys.REBUILD_LOCK, token)


async def reconcile_since(pool: Pool, board: Board, since: datetime) -> datetime:
    """Re-apply (raise-only) every user changed after `since`; return the new watermark."""
    watermark, after = since, None
    while True:
        async with pool.acquire() as conn:
            rows = await repository.changed_since(conn, watermark, after, BATCH)
        if not rows:
            return watermark
        await board.sync([member_of(r) for r in rows])
        latest: datetime = rows[-1]["updated_at"]
        watermark, after = latest, rows[-1]["id"]
        if len(rows) < BATCH:
            return watermark


# Take or renew the lease: one reconciling process per deployment, whichever asked first since it lapsed.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class Reconciler:
    """One pass: rebuild when Redis lost the board, else re-apply users changed since the last pass."""

    def __init__(self, pool: Pool, redis: Redis, lease_seconds: float | None = None) -> None:
        self.pool, self.redis, self.board = pool, redis, Board(redis)
        self.last_pass: datetime | None = None
        # With a lease, only its holder runs passes: every process re-applying the same users every few seconds
        # costs each of them (and Redis) as much as one, about a tenth of the award rate with 2 workers.
        self.lease_ms = int(lease_seconds * 1000) if lease_seconds is not None else None
        self.token = secrets.token_hex(8)

    async def __call__(self) -> None:
        """Run one pass (unless another process holds the lease)."""
        if self.lease_ms is not None and not await self.redis.eval(
            _LEAD, 1, keys.RECONCILER, self.token, self.lease_ms
        ):
            # Not ours: when it becomes ours, look back as on a first pass (the last holder may have died mid-pass).
            self.last_pass = None
            return
        async with self.pool.acquire() as conn:
            started = await repository.database_now(conn)
        if not await self.redis.exists(keys.BUILT):
            await rebuild(self.pool, self.redis)
        since = (self.last_pass or started - timedelta(minutes=1)) - LAG
        await reconcile_since(self.pool, self.board, since)
        # The next pass looks back from this pass's start (database clock), so a change is re-applied for about
        # LAG seconds, then left alone; an idle board costs one indexed query per pass.
        self.last_pass = started

    async def release(self) -> None:
        """Give up the lease (at shutdown), so another process takes over at its next pass."""
        if self.lease_ms is None:
            return
        try:
            await self.redis.eval(_RELEASE, 1, keys.RECONCILER, self.token)
        except (RedisError, OSError) as exc:  # only saves others time: the lease lapses by itself
            log.info("reconciler lease not released (%r); it lapses within its TTL", exc)


@dataclass
class Drift:
    """Where Redis disagrees with PostgreSQL."""

    missing: list[UUID] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[UUID] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether anything disagrees."""
        return bool(self.missing or self.extra or self.different)


async def check(pool: Pool, redis: Redis, *, repair: bool = False) -> Drift:
    """Compare the board with PostgreSQL's active users (scores, tie order, names); optionally repair."""
    board = Board(redis)
    drift = Drift()
    expected: dict[str, tuple[int, int, str]] = {}
    after = None
    while True:
        async with pool.acquire() as conn:
            rows = await repository.active_members_after(conn, after, BATCH)
        if not rows:
            break
        for r in rows:
            expected[str(r["id"])] = (r["current_score"], epoch_ms(r["reached"]), r["username"])
        after = rows[-1]["id"]
    actual = {m: int(s) async for m, s in redis.zscan_iter(keys.BOARD)}
    reached = await redis.hgetall(keys.REACHED)
    names = await redis.hgetall(keys.USERNAMES)
    for uid, (score, ms, name) in expected.items():
        if uid not in actual:
            drift.missing.append(UUID(uid))
        elif actual[uid] != score or reached.get(uid) != str(ms) or names.get(uid) != name:
            drift.different.append(UUID(uid))
    drift.extra = sorted(uid for uid in actual if uid not in expected)
    if repair and drift.found:
        fix = [*drift.missing, *drift.different, *(UUID(u) for u in drift.extra if _is_uuid(u))]
        async with pool.acquire() as conn:
            rows = await repository.members(conn, fix)
        await board.sync([member_of(r) for r in rows], mode="exact")
        known = {str(r["id"]) for r in rows}
        await board.remove([u for u in drift.extra if u not in known])
    return drift


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
