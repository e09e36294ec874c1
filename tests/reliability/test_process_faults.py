"""PostgreSQL crashing and the service being stopped under award load: honest answers, nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import asyncpg

from scoreboard.embedded.process import free_port
from tests.fixtures.faults import (
    Stores,
    Watcher,
    fault_env,
    lost_awards,
    report,
    seconds_until_consistent,
    serve_log,
)
from tests.fixtures.load import award_load, players
from tests.fixtures.served import Service
from tests.fixtures.streams import sse


async def test_postgres_killed_under_load_answers_503_with_retry_after_and_recovers_by_itself(
    stores: Stores, served: Service
) -> None:
    """SIGKILL PostgreSQL mid-load: only 503 + Retry-After, no acknowledged award lost, awards resume, same process."""
    accounts = await players(served.base, 12)
    assert served.proc is not None
    pid = served.proc.pid
    async with award_load(served.base, accounts) as load:
        await asyncio.sleep(1.5)
        stores.kill_postgres()
        killed = time.monotonic()
        await asyncio.sleep(2.0)
        restarting = time.monotonic()
        await asyncio.to_thread(stores.postgres.start)
        back = time.monotonic()
        await load.until_acknowledged_after(back, within=15)
    resumed = load.first_success_after(back)
    recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, back, within=15)
    during = [o for o in load.outcomes if killed <= o.started and o.ended <= restarting]
    statuses = load.statuses()
    lost = await lost_awards(stores.database_url, load.acknowledged())
    report(
        "postgres_sigkill",
        statuses=statuses,
        acknowledged=len(load.acknowledged()),
        lost=len(lost),
        answered_503_while_down=sum(o.status == 503 for o in during),
        awards_resumed_seconds_after_return=None if resumed is None else round(resumed - back, 2),
        board_consistent_seconds_after_return=round(recovery, 2),
    )
    assert "500" not in statuses, serve_log(served)
    assert "error" not in statuses
    assert set(statuses) <= {"201", "503"}
    assert during
    assert all(o.status == 503 for o in during)
    assert all(o.retry_after for o in load.outcomes if o.status == 503)
    assert resumed is not None, serve_log(served)
    assert served.proc.poll() is None
    assert served.proc.pid == pid
    assert lost == {}


async def test_sigterm_under_load_answers_every_request_in_flight_and_writes_every_audit_row(
    stores: Stores, tmp_path: Path
) -> None:
    """SIGTERM mid-load: every request sent before it is answered, every award and 429 audited, streams told."""
    # A low rate limit, so part of the load is refused: each refusal is a rate_limit_audit row queued in memory.
    env = fault_env(stores, tmp_path / "data", score_rate_limit="20", stream_drain_seconds="3")
    service = Service(env, tmp_path, free_port())
    service.start()
    try:
        accounts = await players(service.base, 6)
        async with sse(service.base) as stream:
            watcher = Watcher(stream)
            async with award_load(service.base, accounts) as load:
                await load.until_status(429, within=10)
                await asyncio.sleep(0.5)
                assert service.proc is not None
                service.proc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.sleep(1.0)
            told = await watcher.first("reconnect", after=signalled, within=5)
            await watcher.close()
        code = await asyncio.to_thread(service.proc.wait, 30)
    finally:
        service.stop()

    in_flight = [o for o in load.outcomes if o.started < signalled]
    unanswered = [o for o in in_flight if o.status is None]
    refused = sum(o.status == 429 for o in load.outcomes)
    statuses = load.statuses()
    conn = await asyncpg.connect(stores.database_url)
    try:
        audited = await conn.fetchval("SELECT count(*) FROM rate_limit_audit WHERE endpoint = '/api/scores'")
    finally:
        await conn.close()
    lost = await lost_awards(stores.database_url, load.acknowledged())
    reasons = [data["reason"] for _, kind, data in watcher.events if kind == "reconnect"]
    report(
        "serve_sigterm",
        statuses=statuses,
        sent_before_sigterm=len(in_flight),
        unanswered_before_sigterm=len(unanswered),
        acknowledged=len(load.acknowledged()),
        lost=len(lost),
        refused_429=refused,
        audit_rows=audited,
        reconnect_seconds_after_sigterm=None if told is None else round(told - signalled, 2),
        exit_code=code,
    )
    assert unanswered == [], [o.error for o in unanswered[:3]]
    assert "500" not in statuses, serve_log(service)
    assert refused > 0, "no 429 was provoked (the audit check would prove nothing)"
    assert audited == refused
    assert lost == {}
    assert reasons == ["shutdown"]
    assert told is not None
    assert code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    assert await seconds_until_consistent(stores.database_url, stores.redis_url, time.monotonic(), within=5) >= 0
