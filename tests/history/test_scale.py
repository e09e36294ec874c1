"""One million awards: history and stats stay on the seed's indexes, deep pages stay fast, checks stay bounded.

See the measured figures (docs/analytics.md quotes them) with `--log-cli-level=INFO`.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from scoreboard.history import cursor
from scoreboard.history.repository import HISTORY_AFTER, HISTORY_FIRST, LAST_ACTION, STATS
from scoreboard.integrity import service as integrity
from scoreboard.leaderboard import reconciler
from tests.fixtures.accounts import admin
from tests.fixtures.apps import Running
from tests.fixtures.factories import bulk_history, bulk_users
from tests.fixtures.polling import eventually
from tests.fixtures.servers import Servers
from tests.fixtures.urls import with_database

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

TOTAL = 1_000_000
USERS = 1_000
WHALE = 200_000  # one player with a fifth of all awards: the deep pages
DEEP = 150_000  # how far into the whale's history the deep page starts
COMPOSITE = "idx_score_history_user_created"


@dataclass(frozen=True)
class BigHistory:
    """A database holding a million awards."""

    url: str
    whale: UUID
    minnow: UUID
    load_seconds: float


@pytest.fixture(scope="module")
async def big(servers: Servers, template_db: str) -> AsyncIterator[BigHistory]:
    """Clone the migrated template and COPY 1,000 users and 1,000,000 consistent awards into it (once per module)."""
    name = f"scoreboard_big_{os.getpid()}"
    admin_conn = await asyncpg.connect(servers.admin_url)
    try:
        await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin_conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        url = with_database(servers.admin_url, name)
        conn = await asyncpg.connect(url)
        try:
            started = time.perf_counter()
            users = await bulk_users(conn, USERS)
            counts = {u: (TOTAL - WHALE) // (USERS - 1) for u in users[1:]}
            counts[users[0]] = TOTAL - sum(counts.values())
            newest = datetime.now(UTC) - timedelta(minutes=1)
            assert await bulk_history(conn, counts, newest=newest, step=timedelta(seconds=30)) == TOTAL
            await conn.execute("ANALYZE")
            load_seconds = time.perf_counter() - started
        finally:
            await conn.close()
        log.info(f"loaded {TOTAL:,} awards for {USERS:,} users with COPY in {load_seconds:.1f} s")
        yield BigHistory(url, users[0], users[1], load_seconds)
        await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin_conn.close()


@pytest.fixture
def database_url(big: BigHistory) -> str:
    """Point this module's app, client and db at the big database instead of a fresh one."""
    return big.url


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a JSON plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def explain(db: asyncpg.Connection, sql: str, *args: Any, generic: bool = False) -> list[dict[str, Any]]:
    """The plan of `sql` as a flat list of nodes; `generic` plans it as a prepared statement's generic plan."""
    await db.execute(f"SET plan_cache_mode = {'force_generic_plan' if generic else 'auto'}")
    (row,) = await db.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    return list(nodes(json.loads(row[0])[0]["Plan"]))


def on_history(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's scans of score_history."""
    return [n for n in plan if n.get("Relation Name") == "score_history"]


async def deep_position(db: asyncpg.Connection, big: BigHistory) -> asyncpg.Record:
    """The row DEEP awards into the whale's history, newest first."""
    row = await db.fetchrow(
        """
        SELECT created_at, id FROM score_history WHERE user_id = $1
        ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1
        """,
        big.whale,
        DEEP - 1,
    )
    assert row is not None
    return row


@pytest.mark.parametrize("generic", [False, True], ids=["custom-plan", "generic-plan"])
async def test_history_pages_read_the_composite_index(db: asyncpg.Connection, big: BigHistory, generic: bool) -> None:
    """First and deep pages: an index scan of idx_score_history_user_created, no sequential scan, no full sort."""
    deep = await deep_position(db, big)
    for sql, args in (
        (HISTORY_FIRST, (big.whale, 51)),
        (HISTORY_AFTER, (big.whale, 51, deep["created_at"], deep["id"])),
    ):
        plan = await explain(db, sql, *args, generic=generic)
        scans = on_history(plan)
        assert [n["Index Name"] for n in scans] == [COMPOSITE], scans
        assert scans[0]["Node Type"] == "Index Scan"
        # Rows arrive in created_at order from the index; only equal times are sorted by id (incremental sort).
        assert "Sort" not in {n["Node Type"] for n in plan}


async def test_stats_read_the_seed_indexes(db: asyncpg.Connection, big: BigHistory) -> None:
    """Stats: totals through a user_id index of the seed, the last action from the top of the composite index."""
    for user in (big.whale, big.minnow):
        totals = await explain(db, STATS, user)
        assert on_history(totals)
        assert all(n["Node Type"] != "Seq Scan" for n in on_history(totals)), totals
        indexes = {n["Index Name"] for n in totals if "Index Name" in n}
        assert indexes, totals
        assert indexes <= {"idx_score_history_user_id", COMPOSITE}
        last = on_history(await explain(db, LAST_ACTION, user))
        assert [(n["Node Type"], n["Index Name"]) for n in last] == [("Index Scan", COMPOSITE)]
        scans = " + ".join(n["Node Type"] for n in totals if "Scan" in n["Node Type"])
        who = "whale" if user == big.whale else "minnow"
        log.info(f"stats of the {who}: totals by {scans} on {indexes}; last action by Index Scan on {COMPOSITE}")


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str]) -> float:
    """Milliseconds one successful GET took."""
    started = time.perf_counter()
    response = await client.get(url, params=params, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


async def test_a_deep_page_answers_in_under_10_ms(
    client: httpx.AsyncClient, db: asyncpg.Connection, big: BigHistory
) -> None:
    """Page 3,000 of a 200,000-award history: the right 50 rows, in under 10 ms through the whole HTTP stack."""
    boss = await admin(client, db)
    deep = await deep_position(db, big)
    url = f"/api/users/{big.whale}/history"
    params = {"limit": 50, "cursor": cursor.encode(deep["created_at"], deep["id"])}
    page = (await client.get(url, params=params, headers=boss.headers)).json()
    expected = await db.fetch(
        "SELECT id FROM score_history WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 50",
        big.whale,
        DEEP,
    )
    assert [i["id"] for i in page["items"]] == [r["id"] for r in expected]
    for _ in range(5):  # warm the pool, the prepared statements and the caches
        await timed(client, url, params, boss.headers)
    http_ms = [await timed(client, url, params, boss.headers) for _ in range(31)]
    first_ms = [await timed(client, url, {"limit": 50}, boss.headers) for _ in range(31)]
    (row,) = await db.fetch(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {HISTORY_AFTER}", big.whale, 51, deep["created_at"], deep["id"]
    )
    sql_ms = json.loads(row[0])[0]["Execution Time"]
    text = await db.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {HISTORY_AFTER}", big.whale, 51, deep["created_at"], deep["id"])
    log.info("deep page plan:\n%s", "\n".join(r[0] for r in text))
    log.info(
        f"deep page ({DEEP:,} awards in): HTTP median {statistics.median(http_ms):.2f} ms, "
        f"p90 {statistics.quantiles(http_ms, n=10)[-1]:.2f} ms; first page median {statistics.median(first_ms):.2f} ms;"
        f" SQL execution {sql_ms:.3f} ms"
    )
    assert statistics.median(http_ms) < 10
    assert sql_ms < 10


async def test_reports_and_integrity_stay_bounded(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, big: BigHistory
) -> None:
    """Analytics over a million awards and the full integrity check take seconds at most, and find nothing."""
    boss = await admin(client, db)
    figures = {}
    for path, days in (("top-actions", 7), ("daily", 30), ("growth", 90), ("top-performers", 7)):
        ms = await timed(client, f"/api/admin/analytics/{path}", {"days": days}, boss.headers)
        figures[path] = ms
        assert ms < 5000, path
    # The app's reconciler builds the board at start-up; wait for it, then rebuild once more with everyone in.
    await eventually(lambda: app.state["redis"].exists("leaderboard:built"), within=30)
    assert await reconciler.rebuild(app.state["pool"], app.state["background_redis"]) is not None
    started = time.perf_counter()
    report = await integrity.run(app.state["pool"], app.state["background_redis"])
    figures["integrity"] = (time.perf_counter() - started) * 1000
    assert report.ok, [c for c in report.checks if c.count]
    assert figures["integrity"] < 10_000
    log.info(", ".join(f"{name} {ms:.0f} ms" for name, ms in figures.items()))
