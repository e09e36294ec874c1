"""The seed's 15 sample queries run verbatim against the migrated schema and give sensible answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest

from tests.fixtures.factories import award, create_user
from tests.fixtures.seed_queries import SEED_QUERIES, query

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "database-schema.md"
NOW = datetime.now(UTC)


@pytest.fixture
async def players(db: asyncpg.Connection) -> dict[str, UUID]:
    """Four players with known histories: ann 135, bob 30, cat 0, dan (inactive) 10."""
    ids = {
        "ann": await create_user(db, username="ann", created_at=NOW - timedelta(days=40)),
        "bob": await create_user(db, username="bob", created_at=NOW - timedelta(days=3)),
        "cat": await create_user(db, username="cat"),
        "dan": await create_user(db, username="dan", is_active=False),
    }
    await award(db, ids["ann"], "complete-quest", reason="first", at=NOW - timedelta(days=20))
    await award(db, ids["ann"], "achievement-unlock", at=NOW - timedelta(days=2))
    await award(db, ids["ann"], "purchase-item", at=NOW - timedelta(hours=1))
    await award(db, ids["bob"], "daily-login", at=NOW - timedelta(days=1))
    await award(db, ids["bob"], "complete-quest", at=NOW - timedelta(minutes=30))
    await award(db, ids["bob"], "daily-login", at=NOW - timedelta(minutes=5))
    await award(db, ids["bob"], "daily-login", at=NOW - timedelta(minutes=4))
    await award(db, ids["bob"], "daily-login", at=NOW - timedelta(minutes=3))
    await award(db, ids["dan"], "complete-quest", at=NOW - timedelta(days=1))
    return ids


async def run(db: asyncpg.Connection, number: int, *args: Any) -> list[asyncpg.Record]:
    """Run seed query `number` (its only statement) with `args` bound."""
    (statement,) = query(number)
    return await db.fetch(statement, *args)


def test_fixture_matches_the_seed_verbatim() -> None:
    """Every statement we run appears, character for character, in the seed document."""
    if not SPEC.exists():
        pytest.skip(f"the seed document is not beside this checkout ({SPEC})")
    text = SPEC.read_text()
    assert [n for n, _, _ in SEED_QUERIES] == list(range(1, 16))
    for number, title, statements in SEED_QUERIES:
        assert f"**{number}. {title}**" in text
        for statement in statements:
            assert statement in text, f"query {number} differs from the seed"


async def test_profile_and_view_rank(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 1-2: a profile for active users only; the view ranks by score."""
    (profile,) = await run(db, 1, players["ann"])
    assert (profile["username"], profile["current_score"]) == ("ann", 135)
    assert await run(db, 1, players["dan"]) == []
    (rank,) = await run(db, 2, players["bob"])
    assert (rank["current_score"], rank["rank"]) == (30, 2)


async def test_top_ten_and_range(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 3-4: top users by score, and a score band; inactive users never appear."""
    top = await run(db, 3)
    assert [(r["username"], r["current_score"], r["rank"]) for r in top] == [
        ("ann", 135, 1),
        ("bob", 30, 2),
        ("cat", 0, 3),
    ]
    band = await run(db, 4, 10, 200)
    assert [r["username"] for r in band] == ["ann", "bob"]


async def test_history_pages_and_details(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 5 and 8: newest first, balances chained, action names joined."""
    page = await run(db, 5, players["ann"], 0)
    assert [r["action_id"] for r in page] == ["purchase-item", "achievement-unlock", "complete-quest"]
    assert [(r["balance_before"], r["balance_after"]) for r in page] == [(35, 135), (10, 35), (0, 10)]
    assert page[-1]["reason"] == "first"
    assert await run(db, 5, players["ann"], 3) == []
    details = await run(db, 8, players["bob"])
    assert len(details) == 5
    assert details[0]["action_name"] == "Daily Login"


async def test_statistics(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 6-7: action frequencies over a week and one user's totals."""
    frequent = {r["action_id"]: (r["frequency"], r["total_points"]) for r in await run(db, 6)}
    # ann's 20-day-old quest is outside the 7-day window.
    assert frequent == {
        "daily-login": (4, 20),
        "complete-quest": (2, 20),
        "achievement-unlock": (1, 25),
        "purchase-item": (1, 100),
    }
    (stats,) = await run(db, 7, players["ann"])
    assert (stats["total_actions"], stats["total_points"], stats["max_single_action"]) == (3, 135, 100)
    assert float(stats["avg_points"]) == pytest.approx(45.0)


async def test_leaderboard_and_position(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 9-10: full board with ranks; one user's position and the player count."""
    board = await run(db, 9)
    assert [(r["username"], r["rank"], r["rank_calc"]) for r in board] == [
        ("ann", 1, 1),
        ("bob", 2, 2),
        ("cat", 3, 3),
    ]
    (position,) = await run(db, 10, players["bob"])
    assert (position["rank"], position["total_players"]) == (1, 4)  # RANK() over the one selected row


async def test_analytics(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 11-13: daily distribution, sign-ups, recent top performers."""
    days = await run(db, 11)
    assert sum(r["total_points"] for r in days) == 135 + 30 + 10  # inactive users count too
    assert max(r["max_points"] for r in days) == 100
    growth = await run(db, 12)
    assert sum(r["new_users"] for r in growth) == 4
    performers = await run(db, 13)
    by_name = {r["username"]: r for r in performers}
    assert by_name["ann"]["recent_points"] == 125
    assert by_name["bob"]["recent_actions"] == 5


async def test_integrity_queries(db: asyncpg.Connection, players: dict[str, UUID]) -> None:
    """Queries 14-15: consistent data gives no rows; a tampered score is caught."""
    assert await run(db, 14) == []
    no_history, orphans = query(15)
    assert await db.fetch(no_history) == []
    assert await db.fetch(orphans) == []
    await db.execute("UPDATE users SET current_score = current_score + 7 WHERE id = $1", players["bob"])
    (drift,) = await run(db, 14)
    assert (drift["username"], drift["discrepancy"]) == ("bob", 7)
    cat = players["cat"]
    await db.execute("UPDATE users SET current_score = 3 WHERE id = $1", cat)
    assert [r["username"] for r in await db.fetch(no_history)] == ["cat"]


def test_queries_use_only_seed_parameters() -> None:
    """Bound parameters are the seed's own ($1, $2); nothing was rewritten into the text."""
    for number, _, statements in SEED_QUERIES:
        for statement in statements:
            assert set(re.findall(r"\$\d", statement)) <= {"$1", "$2"}, number
