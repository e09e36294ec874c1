"""Redis (Valkey) crashes, flushes and old snapshots under award load: no 500, no lost award, the board catches up."""

from __future__ import annotations

import asyncio
import shutil
import time

from redis.asyncio import Redis

from tests.fixtures.faults import (
    Stores,
    Watcher,
    board_drift,
    lost_awards,
    players_behind,
    report,
    seconds_until_consistent,
    serve_log,
    snapshot_files,
)
from tests.fixtures.load import award_load, players
from tests.fixtures.served import Service
from tests.fixtures.streams import sse


async def test_redis_killed_under_load_answers_503_loses_nothing_and_the_board_catches_up(
    stores: Stores, served: Service
) -> None:
    """SIGKILL Valkey mid-load: 503s (no 500), every acknowledged award kept, board == PostgreSQL within 5 s."""
    accounts = await players(served.base, 12)
    async with sse(served.base) as stream:
        watcher = Watcher(stream)
        async with award_load(served.base, accounts) as load:
            await asyncio.sleep(1.5)
            stores.kill_redis()
            killed = time.monotonic()
            await asyncio.sleep(2.0)
            restarting = time.monotonic()
            stores.valkey.start()
            back = time.monotonic()
            await load.until_acknowledged_after(back, within=5)
        recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, back, within=5)
        snapshot_after = await watcher.first("snapshot", after=back, within=5)
        await watcher.close()

    during = [o for o in load.outcomes if killed <= o.started and o.ended <= restarting]
    statuses = load.statuses()
    lost = await lost_awards(stores.database_url, load.acknowledged())
    report(
        "redis_sigkill",
        statuses=statuses,
        acknowledged=len(load.acknowledged()),
        lost=len(lost),
        answered_503_while_down=sum(o.status == 503 for o in during),
        board_consistent_seconds_after_return=round(recovery, 2),
        snapshot_seconds_after_return=None if snapshot_after is None else round(snapshot_after - back, 2),
    )
    assert "500" not in statuses, serve_log(served)
    assert "error" not in statuses
    assert set(statuses) <= {"201", "503"}
    assert during
    assert all(o.status == 503 for o in during)
    assert all(o.retry_after for o in load.outcomes if o.status == 503)
    assert load.first_success_after(back) is not None
    assert lost == {}
    assert snapshot_after is not None
    assert snapshot_after - back < 5


async def test_redis_flushed_under_load_rebuilds_the_board_within_seconds(stores: Stores, served: Service) -> None:
    """FLUSHALL while awards flow: the board, score caches and all, is rebuilt to PostgreSQL's within 5 s."""
    accounts = await players(served.base, 12)
    async with award_load(served.base, accounts) as load, Redis.from_url(stores.redis_url) as redis:
        await asyncio.sleep(1.5)
        await redis.flushall()
        flushed = time.monotonic()
        await load.until_acknowledged_after(flushed, within=5)
    recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, flushed, within=5)
    statuses = load.statuses()
    lost = await lost_awards(stores.database_url, load.acknowledged())
    report(
        "redis_flushall",
        statuses=statuses,
        acknowledged=len(load.acknowledged()),
        lost=len(lost),
        board_consistent_seconds_after_flush=round(recovery, 2),
    )
    assert "500" not in statuses, serve_log(served)
    assert set(statuses) <= {"201", "503"}
    assert lost == {}


async def test_redis_restored_from_an_old_snapshot_catches_up_with_postgres(stores: Stores, served: Service) -> None:
    """Snapshot Valkey's files, award more, restart Valkey on the old files: the board catches up within 5 s."""
    accounts = await players(served.base, 12)
    files, saved = stores.valkey.dir / "appendonlydir", stores.valkey.dir.parent / "old-appendonlydir"
    async with award_load(served.base, accounts) as load, Redis.from_url(stores.redis_url) as redis:
        await asyncio.sleep(1.0)
        await redis.set("reliability:snapshot", "old")
        at_snapshot = await snapshot_files(redis, files, saved)
        await redis.set("reliability:snapshot", "new")
        await asyncio.sleep(2.0)  # awards the old snapshot does not have
        stores.kill_redis()
        shutil.rmtree(files)
        shutil.copytree(saved, files)
        stores.valkey.start()
        back = time.monotonic()
        await load.until_acknowledged_after(back, within=5)
    async with Redis.from_url(stores.redis_url, decode_responses=True) as redis:
        loaded = await redis.get("reliability:snapshot")
    recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, back, within=5)
    truth = await board_drift(stores.database_url, stores.redis_url)  # {} now: PostgreSQL's scores are the board's
    behind = await players_behind(stores.database_url, at_snapshot)
    statuses = load.statuses()
    lost = await lost_awards(stores.database_url, load.acknowledged())
    report(
        "redis_old_snapshot",
        statuses=statuses,
        acknowledged=len(load.acknowledged()),
        lost=len(lost),
        players_behind_in_the_old_snapshot=behind,
        board_consistent_seconds_after_return=round(recovery, 2),
    )
    assert loaded == "old", "Valkey did not come back from the old snapshot (this would prove nothing)"
    assert behind > 0, "the old snapshot should be behind PostgreSQL (this would prove nothing)"
    assert truth == {}
    assert "500" not in statuses, serve_log(served)
    assert set(statuses) <= {"201", "503"}
    assert lost == {}
