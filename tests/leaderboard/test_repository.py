"""The board's SQL: one rank rule for every standing, and the SQL functions operators use say the same."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import pytest

from scoreboard.leaderboard import repository
from scoreboard.leaderboard.repository import GLOBAL, POINTS, RESULTS

PERIOD = "2026-12-04"
# (score, active): ties, a zero, and a deactivated player who must not count.
PLAYERS = [(50, True), (40, True), (40, True), (10, True), (0, True), (45, False)]


async def _load(db: asyncpg.Connection) -> list[UUID]:
    """The players on the global board, a points board's period and a result board's period alike."""
    ids = [uuid4() for _ in PLAYERS]
    await db.executemany(
        """
        INSERT INTO users (id, username, email, password_hash, current_score, is_active)
        VALUES ($1, $2, $3, 'x', $4, $5)
        """,
        [
            (uid, f"p{i}", f"p{i}@example.com", score, active)
            for i, (uid, (score, active)) in enumerate(zip(ids, PLAYERS, strict=True))
        ],
    )
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('day', 'Day', 'daily')")
    await db.execute("INSERT INTO boards (id, name, period, kind) VALUES ('laps', 'Laps', 'daily', 'result')")
    for uid, (score, _) in zip(ids, PLAYERS, strict=True):
        await db.execute(
            "INSERT INTO board_scores (board_id, period, user_id, score, reached_at) VALUES ('day', $1, $2, $3, now())",
            PERIOD,
            uid,
            score,
        )
        submission = await db.fetchval(
            """
            INSERT INTO result_submissions (board_id, period, user_id, value, rank_value)
            VALUES ('laps', $1, $2, $3, $3) RETURNING id
            """,
            PERIOD,
            uid,
            score,
        )
        await db.execute(
            """
            INSERT INTO result_standings (board_id, period, user_id, value, rank_value, reached_at, submission_id)
            VALUES ('laps', $1, $2, $3, $3, now(), $4)
            """,
            PERIOD,
            uid,
            score,
            submission,
        )
    return ids


@pytest.mark.parametrize("probe", [0, 5, 10, 40, 45, 50, 60])
async def test_every_standing_ranks_by_one_rule_and_the_operators_functions_agree(
    db: asyncpg.Connection, probe: int
) -> None:
    await _load(db)
    expected = 1 + sum(1 for score, active in PLAYERS if active and score > probe)
    assert await repository.rank_of(db, probe) == await db.fetchval("SELECT leaderboard_rank($1)", probe) == expected
    for standing, board, function in ((POINTS, "day", "board_rank"), (RESULTS, "laps", "result_rank")):
        ours = await repository.rank_of(db, probe, standing, board, PERIOD)
        theirs = await db.fetchval(f"SELECT {function}($1, $2, $3)", board, PERIOD, probe)
        assert ours == theirs == expected, board


async def test_rows_of_every_standing_carry_the_rules_rank_in_board_order(db: asyncpg.Connection) -> None:
    ids = await _load(db)
    keyed = {GLOBAL: (), POINTS: ("day", PERIOD), RESULTS: ("laps", PERIOD)}
    for standing, key in keyed.items():
        page = await repository.page(db, 0, 10, standing, *key)
        assert [(r["current_score"], r["rank"]) for r in page] == [(50, 1), (40, 2), (40, 2), (10, 4), (0, 5)]
        assert await repository.total(db, standing, *key) == 5
        near = await repository.around(db, ids[3], 1, standing, *key)
        assert [(r["current_score"], r["rank"], r["position"]) for r in near] == [(40, 2, 3), (10, 4, 4), (0, 5, 5)]
        assert [r["id"] for r in await repository.ranks(db, [ids[5], ids[0]], standing, *key)] == [ids[0]]
