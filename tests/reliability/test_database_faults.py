"""The database replaced under the running service's feet (restore, reset): the board follows by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from tests.fixtures.cli import run_scoreboard
from tests.fixtures.faults import (
    Stores,
    lost_awards,
    report,
    seconds_until_consistent,
    serve_log,
)
from tests.fixtures.load import Outcome, award_load, players
from tests.fixtures.served import Service


async def scoreboard(stores: Stores, tmp_path: Path, *args: str) -> None:
    """Run `scoreboard ARGS` on the test's stores without blocking the load; it must succeed."""
    done = await asyncio.to_thread(
        run_scoreboard,
        *args,
        data_dir=tmp_path / "cli",
        database_url=stores.database_url,
        redis_url=stores.redis_url,
        timeout=120,
    )
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])


async def count(database_url: str, query: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def test_restore_under_live_traffic_leaves_the_board_equal_to_postgres(
    stores: Stores, served: Service, tmp_path: Path
) -> None:
    """Back up, award, `restore --force` while awards flow: board == PostgreSQL within 5 s, no restart, no 500."""
    accounts = await players(served.base, 12)
    dump = tmp_path / "scoreboard.dump"
    async with award_load(served.base, accounts) as load:
        await asyncio.sleep(1.0)
        await scoreboard(stores, tmp_path, "backup", str(dump))
        backed_up = time.monotonic()
        await asyncio.sleep(1.5)  # awards the backup does not have: the restore takes them back
        await scoreboard(stores, tmp_path, "restore", "--force", str(dump))
        restored = time.monotonic()
        await load.until_acknowledged_after(restored, within=10)
    recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, restored, within=5)
    statuses = load.statuses()
    after = {o.history_id: o.user for o in load.outcomes if o.history_id and o.started >= restored}
    lost = await lost_awards(stores.database_url, after)
    undone = sum(1 for o in load.outcomes if o.history_id and o.started >= backed_up and o.ended <= restored)
    report(
        "database_restore",
        statuses=statuses,
        acknowledged_after_restore=len(after),
        lost_after_restore=len(lost),
        awards_taken_back_by_the_restore=undone,
        board_consistent_seconds_after_restore=round(recovery, 2),
    )
    assert undone > 0, "no award fell between backup and restore (the restore would prove nothing)"
    assert "500" not in statuses, serve_log(served)
    assert set(statuses) <= {"201", "503"}
    assert after, serve_log(served)
    assert lost == {}
    assert served.proc is not None
    assert served.proc.poll() is None


async def test_database_reset_under_live_traffic_empties_the_board(
    stores: Stores, served: Service, tmp_path: Path
) -> None:
    """`db downgrade base` then `db upgrade` while awards flow: the board follows the empty database, no 500."""
    accounts = await players(served.base, 12)
    started = time.monotonic()
    async with award_load(served.base, accounts) as load:
        await asyncio.sleep(1.0)
        downgrading = time.monotonic()
        await scoreboard(stores, tmp_path, "db", "downgrade", "base")
        upgrading = time.monotonic()
        await scoreboard(stores, tmp_path, "db", "upgrade")
        reset = time.monotonic()
        await asyncio.sleep(1.0)
    recovery = await seconds_until_consistent(stores.database_url, stores.redis_url, reset, within=5)
    statuses = load.statuses()
    users = await count(stores.database_url, "SELECT count(*) FROM users")
    report(
        "database_reset",
        statuses=statuses,
        acknowledged=len(load.acknowledged()),
        board_consistent_seconds_after_reset=round(recovery, 2),
        users_after_reset=users,
        no_answer=sorted({o.error or "" for o in load.outcomes if o.status is None}),
        first_500_to_last_500=_span(load.outcomes, 500, since=started),
        first_404_to_last_404=_span(load.outcomes, 404, since=started),
        answer_404=load.sample(404),
        answer_401=load.sample(401),
        downgrade_upgrade=[round(downgrading - started, 2), round(upgrading - started, 2), round(reset - started, 2)],
    )
    assert users == 0
    assert "500" not in statuses, serve_log(served)
    assert "error" not in statuses
    # After the reset the players' tokens name users that no longer exist.
    assert set(statuses) <= {"201", "401", "503"}
    assert served.proc is not None
    assert served.proc.poll() is None


def _span(outcomes: list[Outcome], status: int, since: float) -> list[float]:
    """When (seconds after `since`) the first and last request answered `status` were sent."""
    sent = [o.started - since for o in outcomes if o.status == status]
    return [round(min(sent), 2), round(max(sent), 2)] if sent else []
