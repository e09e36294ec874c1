"""Which PostgreSQL state the Redis board mirrors, and why it no longer does (after a restore, a reset, a restart)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.typing import EncodableT

from scoreboard.db import Connection
from scoreboard.leaderboard import keys, repository
from scoreboard.leaderboard.board import epoch_us


@dataclass(frozen=True)
class Mirror:
    """What Redis says it mirrors: PostgreSQL's board generation, the Redis instance, the newest award applied."""

    built: bool
    generation: str | None
    run_id: str | None
    history_id: int
    history_at: str | None
    history_user: str | None


@dataclass(frozen=True)
class Truth:
    """What PostgreSQL and Redis are now: the board generation and the running Redis instance."""

    generation: str
    run_id: str


async def read(redis: Redis) -> Mirror:
    """Read the mirror record and whether the board is built (one round trip)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(keys.BUILT)
        pipe.hgetall(keys.MIRROR)
        built, record = await pipe.execute()
    return Mirror(
        built=bool(built),
        generation=record.get("generation"),
        run_id=record.get("run_id"),
        history_id=int(record.get("history_id") or 0),
        history_at=record.get("history_at"),
        history_user=record.get("history_user"),
    )


async def truth(conn: Connection, redis: Redis) -> Truth:
    """PostgreSQL's board generation and the id of the Redis instance running now."""
    server = await redis.info("server")
    return Truth(str(await repository.generation(conn)), str(server["run_id"]))


async def compare(conn: Connection, redis: Redis) -> tuple[Mirror, str | None]:
    """What Redis mirrors, and why that is not PostgreSQL now (None: it is)."""
    mirror = await read(redis)
    return mirror, await _mismatch(conn, redis, mirror)


async def mismatch(conn: Connection, redis: Redis) -> str | None:
    """Why the board does not mirror PostgreSQL (None: it does); each reason calls for a rebuild."""
    return (await compare(conn, redis))[1]


async def _mismatch(conn: Connection, redis: Redis, mirror: Mirror) -> str | None:
    now = await truth(conn, redis)
    if not mirror.built:
        return "the board is not built"
    if mirror.generation != now.generation:
        # A new or reset database, or one restored with `scoreboard restore`.
        return f"Redis mirrors board generation {mirror.generation}, PostgreSQL is at {now.generation}"
    if mirror.run_id != now.run_id:
        # Redis restarted since the board was built: it may have come back from an older snapshot, or be a
        # replica that had not seen every award. Only a rebuild says what it holds.
        return "Redis restarted since the board was built"
    if mirror.history_id:
        row = await repository.history_row(conn, mirror.history_id)
        seen = (mirror.history_at, mirror.history_user)
        if row is None or (str(epoch_us(row["created_at"])), str(row["user_id"])) != seen:
            # The newest award Redis applied is gone from PostgreSQL (or its id now names another award): the
            # database was restored from an older backup or reset.
            return f"Redis holds award {mirror.history_id}, which PostgreSQL does not have"
    return None


def record(
    now: Truth, newest: dict[str, object] | None, built_at: datetime | None = None
) -> dict[EncodableT, EncodableT]:
    """The mirror record of a board built from PostgreSQL at `now`, whose newest award was `newest` (a history row)."""
    fields: dict[EncodableT, EncodableT] = {
        "generation": now.generation,
        "run_id": now.run_id,
        "history_id": "0",
        "history_at": "",
        "history_user": "",
        "built_at": str(epoch_us(built_at)) if built_at is not None else "",
    }
    if newest is not None:
        at = newest["created_at"]
        assert isinstance(at, datetime)
        fields |= {
            "history_id": str(newest["id"]),
            "history_at": str(epoch_us(at)),
            "history_user": str(newest["user_id"]),
        }
    return fields
