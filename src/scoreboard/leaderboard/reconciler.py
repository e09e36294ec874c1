"""Keep Redis equal to PostgreSQL: atomic rebuilds, a reconciler that notices what Redis mirrors, drift checks."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from scoreboard.boards import families
from scoreboard.boards import repository as boards_repository
from scoreboard.boards.families import FamilyDrift
from scoreboard.db import Pool
from scoreboard.kit import metrics
from scoreboard.kit.pipelined import Pipelined
from scoreboard.leaderboard import keys, mirror, repository
from scoreboard.leaderboard.board import Board, bulk_load, epoch_ms
from scoreboard.leaderboard.service import member_of

log = logging.getLogger(__name__)
BATCH = 5000
# Transactions commit after they stamp updated_at; look back this far so a slow commit is not skipped.
LAG = timedelta(seconds=5)
TIDY_EVERY = timedelta(hours=1)  # archive retention is counted in days: an hourly sweep is plenty

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


async def rebuild(
    pool: Pool,
    redis: Redis,
    progress: Callable[[int], None] | None = None,
    lock_seconds: int = 600,
    *,
    stale: bool = False,
    grace: int = 86_400,
) -> int | None:
    """Rebuild the boards and the per-user keys from PostgreSQL, swapped in at once; None if another rebuild runs.

    Every board's current period is rebuilt with the global board (its keys expire `grace` seconds after it ends).

    `stale`: the board does not mirror PostgreSQL, so reads go to PostgreSQL until the new one is in.
    """
    token = secrets.token_hex(8)
    if not await redis.set(keys.REBUILD_LOCK, token, nx=True, ex=lock_seconds):
        return None
    suffix = f":rebuild:{token}"
    temp = [name + suffix for name in keys.DERIVED]
    staging = list(temp)  # every staging key, deleted at the end whatever happens
    loader = Pipelined.like(redis)  # bulk loads: its packer is C, redis-py's is Python
    try:
        if stale:
            await redis.delete(keys.BUILT)
        async with pool.acquire() as conn:
            started = await repository.database_now(conn)
            now = await mirror.truth(conn, redis)
            newest = await repository.newest_award_before(conn, started)
            count, loading = 0, None
            async for rows in repository.board_rows(conn, BATCH):
                if loading is not None:
                    await loading  # Redis loads one batch while PostgreSQL sends the next
                loading = asyncio.ensure_future(bulk_load(loader, temp, rows))
                count += len(rows)
                if progress:
                    progress(len(rows))
            if loading is not None:
                await loading
        periods, _ = await families.current(pool)
        staged = []
        for family in periods:
            staging += [name + suffix for name in family.names]
            staged.append((family, *await families.stage(pool, loader, family, suffix)))
        strays = await families.stray_keys(redis, periods)
        # One MULTI/EXEC: readers see the old board or the whole new one, never a half-built one.
        async with redis.pipeline(transaction=True) as pipe:
            for source, target in zip(temp, keys.DERIVED, strict=True):
                if count:
                    pipe.rename(source, target)
                else:  # no active players: nothing was staged, so the board is simply empty
                    pipe.delete(target)
            for family, names, players in staged:
                families.swap(pipe, family, names, players, grace)
            if strays:
                pipe.delete(*strays)
            pipe.set(keys.BUILT, started.isoformat())
            pipe.delete(keys.MIRROR)
            pipe.hset(keys.MIRROR, mapping=mirror.record(now, dict(newest) if newest is not None else None, started))
            # The board changed without an award: live clients everywhere get a fresh snapshot.
            pipe.publish(keys.REBUILT, started.isoformat())
            await pipe.execute()
        # Score caches and replay records may describe another state of the database: they refill on use.
        for pattern in keys.PER_USER:
            await _unlink_matching(redis, pattern)
        # Awards that landed on the old keys while we copied: re-apply everything changed since we began.
        await reconcile_since(pool, redis, started - LAG)
        log.info("leaderboard rebuilt: %d players", count)
        return count
    finally:
        await loader.aclose()
        await redis.delete(*staging)
        await redis.eval(_RELEASE, 1, keys.REBUILD_LOCK, token)


async def rebuild_mirrored(pool: Pool, redis: Redis, wait_seconds: float, *, stale: bool = False) -> int | None:
    """Rebuild, or let a rebuild already running finish and keep its board when Redis then mirrors PostgreSQL.

    Returns this rebuild's player count, or None when the other rebuild's board mirrors PostgreSQL; raises
    TimeoutError when other rebuilds hold the lock past `wait_seconds`.
    """
    deadline = time.monotonic() + wait_seconds
    while (count := await rebuild(pool, redis, stale=stale)) is None:
        # The other rebuild may have begun before whatever made us rebuild: its board is checked, not trusted.
        if time.monotonic() > deadline:
            raise TimeoutError("another leaderboard rebuild was running")
        await _unlocked(redis, deadline)
        async with pool.acquire() as conn:
            if await mirror.mismatch(conn, redis) is None:
                return None
    return count


async def _unlocked(redis: Redis, deadline: float) -> None:
    """Wait until no rebuild holds the lock, or the deadline passes."""
    while time.monotonic() < deadline:
        if not await redis.exists(keys.REBUILD_LOCK):
            return
        await asyncio.sleep(0.1)


async def _unlink_matching(redis: Redis, pattern: str) -> None:
    batch: list[str] = []
    async for key in redis.scan_iter(match=pattern, count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


async def reconcile_since(pool: Pool, redis: Redis, since: datetime) -> datetime:
    """Re-apply (raise-only) every user changed after `since`, on every board; return the new watermark."""
    board = Board(redis)
    watermark, after = since, None
    while True:
        async with pool.acquire() as conn:
            rows = await repository.changed_since(conn, watermark, after, BATCH)
        if not rows:
            return watermark
        metrics.BOARD_REPAIRS.inc(await board.sync([member_of(r) for r in rows]))  # users Redis had missed
        await families.follow(pool, redis, [r["id"] for r in rows])
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
    """One pass: rebuild when the board does not mirror PostgreSQL (`mirror.mismatch`), else re-apply changed users."""

    def __init__(
        self,
        pool: Pool,
        redis: Redis,
        lease_seconds: float | None = None,
        *,
        grace: int = 86_400,
        archive_days: int = 0,
    ) -> None:
        self.pool, self.redis, self.grace = pool, redis, grace
        self.archive_days = archive_days
        self.tidied: datetime | None = None
        self.last_pass: datetime | None = None
        # With a lease, only its holder runs passes: every process re-applying the same users every few seconds
        # costs each of them (and Redis) as much as one pass does (docs/performance.md).
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
            why = await mirror.mismatch(conn, self.redis)
        if why is not None:
            log.warning("leaderboard: %s; rebuilding it from PostgreSQL", why)
            metrics.BOARD_REBUILDS.inc()
            await rebuild(self.pool, self.redis, stale=True, grace=self.grace)
            self.last_pass = started
            return
        since = (self.last_pass or started - timedelta(minutes=1)) - LAG
        await reconcile_since(self.pool, self.redis, since)
        if self.archive_days and (self.tidied is None or started - self.tidied > TIDY_EVERY):
            await self.tidy(started)
        # The next pass looks back from this pass's start (database clock), so a change is re-applied for about
        # LAG seconds, then left alone; an idle board costs one indexed query per pass.
        self.last_pass = started

    async def tidy(self, now: datetime) -> int:
        """Delete finished periods older than the archive retention from PostgreSQL; return the standings removed."""
        async with self.pool.acquire() as conn:
            removed = await boards_repository.drop_archives(conn, now - timedelta(days=self.archive_days))
        self.tidied = now
        if removed:
            log.info("boards: %d archived standings past their %d-day retention removed", removed, self.archive_days)
        return removed

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
    caches: list[str] = field(default_factory=list)  # user ids whose `user:{id}:score` holds another score
    boards: list[FamilyDrift] = field(default_factory=list)  # other boards' current periods

    @property
    def found(self) -> bool:
        """Whether anything disagrees."""
        return bool(self.missing or self.extra or self.different or self.caches or self.boards)


async def check(pool: Pool, redis: Redis, *, repair: bool = False) -> Drift:
    """Compare the board and the score caches with PostgreSQL's active users (scores, tie order, names); repair."""
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
    drift.boards = await families.check(pool, redis, repair=repair)
    cached = await _cached_scores(redis)
    drift.caches = sorted(u for u, v in cached.items() if u not in expected or v != str(expected[u][0]))
    if repair and (drift.missing or drift.different or drift.extra or drift.caches):
        fix = [*drift.missing, *drift.different, *(UUID(u) for u in {*drift.extra, *drift.caches} if _is_uuid(u))]
        async with pool.acquire() as conn:
            rows = await repository.members(conn, fix)
        await board.sync([member_of(r) for r in rows], mode="exact")  # the caches of active users too
        known = {str(r["id"]) for r in rows}
        await board.remove([u for u in drift.extra if u not in known])
        strays = [keys.score_cache(u) for u in drift.caches if u not in known]
        if strays:
            await redis.delete(*strays)
    return drift


async def _cached_scores(redis: Redis) -> dict[str, str]:
    """Every `user:{id}:score` there is now, by user id."""
    found: dict[str, str] = {}
    batch: list[str] = []

    async def flush() -> None:
        for key, value in zip(batch, await redis.mget(batch), strict=True):
            if value is not None:  # expired meanwhile
                found[key.removeprefix("user:").removesuffix(":score")] = str(value)
        batch.clear()

    async for key in redis.scan_iter(match=keys.score_cache("*"), count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await flush()
    if batch:
        await flush()
    return found


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
