"""Each board's current period in Redis (a key family shaped as the global board): load, follow, check, repair."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from scoreboard.boards import periods, repository
from scoreboard.boards.periods import Period, Spec
from scoreboard.db import Pool
from scoreboard.kit.pipelined import Pipelined
from scoreboard.leaderboard import keys
from scoreboard.leaderboard.board import Board, bulk_load, epoch_ms
from scoreboard.leaderboard.service import member_of

log = logging.getLogger(__name__)
BATCH = 5000


def spec_of(row: Any) -> Spec:
    """A catalog row as a Spec."""
    actions = row["action_ids"]
    return Spec(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        period=row["period"],
        time_zone=row["time_zone"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        action_ids=tuple(actions) if actions is not None else None,
        is_active=row["is_active"],
        kind=row["kind"],
        sort=row["sort"],
        keep=row["keep"],
        min_value=row["min_value"],
        max_value=row["max_value"],
    )


@dataclass(frozen=True)
class Family:
    """A board's period held in Redis."""

    spec: Spec
    period: Period

    @property
    def names(self) -> tuple[str, str, str, str]:
        """Its keys (keys.family)."""
        return keys.family(self.spec.id, self.period.key)

    def expires_at(self, grace: int) -> int:
        """When its keys expire (epoch seconds; 0: never)."""
        end = self.period.ends_at
        return int(end.timestamp()) + grace if end is not None else 0


async def current(pool: Pool) -> tuple[list[Family], datetime]:
    """The current period of every active board but `global` (whose keys are the seed's), and the database's now."""
    async with pool.acquire() as conn:
        rows = await repository.boards(conn)
        now = await repository.database_now(conn)
    families = []
    for row in rows:
        spec = spec_of(row)
        if spec.is_active and spec.id != periods.GLOBAL:
            key = periods.key_at(spec, now)
            found = periods.period(spec, key) if key is not None else None
            if found is not None:
                families.append(Family(spec, found))
    return families, now


async def stage(pool: Pool, loader: Pipelined, family: Family, suffix: str) -> tuple[list[str], int]:
    """Load a family's standings from PostgreSQL into staging keys (`name` + suffix); return them and the count."""
    temp = [name + suffix for name in family.names]
    count = 0
    async with pool.acquire() as conn:
        async for rows in repository.stream_members(conn, family.spec.id, family.period.key, BATCH, family.spec.kind):
            await bulk_load(loader, temp, rows)
            count += len(rows)
    return temp, count


def swap(pipe: Any, family: Family, temp: list[str], count: int, grace: int) -> None:
    """Queue the commands that put staged keys in place (in the caller's MULTI)."""
    expires = family.expires_at(grace)
    for source, target in zip(temp, family.names, strict=True):
        if count:
            pipe.rename(source, target)
            if expires:
                pipe.expireat(target, expires)
        else:
            pipe.delete(target)


async def stray_keys(redis: Redis, families: list[Family]) -> list[str]:
    """Period keys in Redis that belong to no current period (boards removed or disabled, other databases)."""
    wanted = {name for f in families for name in f.names}
    return [
        k async for k in redis.scan_iter(match=keys.FAMILIES, count=5000) if k not in wanted and ":rebuild:" not in k
    ]


async def reload(pool: Pool, redis: Redis, family: Family, grace: int, token: str) -> int:
    """Replace one family with PostgreSQL's standings at once (after a backfill); return its players."""
    loader = Pipelined.like(redis)
    suffix = f":rebuild:{token}"
    try:
        temp, count = await stage(pool, loader, family, suffix)
        async with redis.pipeline(transaction=True) as pipe:
            swap(pipe, family, temp, count, grace)
            pipe.publish(keys.REBUILT, family.spec.id)
            await pipe.execute()
        return count
    finally:
        await loader.aclose()
        await redis.delete(*(name + suffix for name in family.names))


async def follow(pool: Pool, redis: Redis | Pipelined, user_ids: list[UUID]) -> None:
    """Re-apply these players' current standings (raise-only; deactivated players leave), as the reconciler does."""
    if not user_ids:
        return
    families, _ = await current(pool)
    if not families:
        return
    async with pool.acquire() as conn:
        rows = await repository.current_members(conn, user_ids)
    by_family: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        by_family[row["board_id"], row["period"]].append(row)
    writes = []
    for family in families:
        found = by_family.get((family.spec.id, family.period.key))
        if found:
            writes.append(Board(redis, names=family.names).sync([member_of(r) for r in found]))
    await asyncio.gather(*writes)


@dataclass
class FamilyDrift:
    """Where a period's Redis keys disagree with PostgreSQL."""

    board_id: str
    period: str
    missing: list[UUID] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[UUID] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether anything disagrees."""
        return bool(self.missing or self.extra or self.different)


async def check(pool: Pool, redis: Redis, *, repair: bool = False) -> list[FamilyDrift]:
    """Compare every current period with PostgreSQL (scores, tie order, names); repair exactly."""
    families, _ = await current(pool)
    drifts = []
    for family in families:
        board, _, usernames, reached = family.names
        async with pool.acquire() as conn:
            rows = await repository.members(conn, family.spec.id, family.period.key, kind=family.spec.kind)
        expected = {str(r["id"]): r for r in rows if r["is_active"]}
        actual = {m: int(s) async for m, s in redis.zscan_iter(board)}
        at = await redis.hgetall(reached)
        names = await redis.hgetall(usernames)
        drift = FamilyDrift(family.spec.id, family.period.key)
        for uid, r in expected.items():
            if uid not in actual:
                drift.missing.append(UUID(uid))
            elif (
                actual[uid] != r["current_score"]
                or at.get(uid) != str(epoch_ms(r["reached"]))
                or names.get(uid) != r["username"]
            ):
                drift.different.append(UUID(uid))
        drift.extra = sorted(uid for uid in actual if uid not in expected)
        if drift.found:
            drifts.append(drift)
            if repair:
                fix = Board(redis, names=family.names)
                await fix.sync([member_of(expected[str(u)]) for u in [*drift.missing, *drift.different]], "exact")
                await fix.remove(drift.extra)
    return drifts
