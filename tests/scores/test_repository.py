"""The award statements: the lighter global-only one never awards past a board it does not write to."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from scoreboard.boards import repository as boards_repository
from scoreboard.scores import repository
from tests.fixtures.accounts import player
from tests.fixtures.factories import create_user


async def score_on(db: asyncpg.Connection, board_id: str) -> int | None:
    """The board's total in PostgreSQL (None: nothing counted on it)."""
    total: int | None = await db.fetchval("SELECT sum(score) FROM board_scores WHERE board_id = $1", board_id)
    return total


async def test_a_board_added_behind_the_process_back_counts_its_next_award(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """Added and removed straight in PostgreSQL, as another process would: the next award follows each time."""
    me = await player(client)
    for _ in range(2):  # the global board alone: the process learns it may try the lighter statement first
        alone = await client.post("/api/scores", headers=me.headers, json={"actionId": "complete-quest"})
        assert alone.status_code == 201, alone.text
    assert repository._hint.global_only
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('side', 'Side', 'daily')")
    first = await client.post("/api/scores", headers=me.headers, json={"actionId": "complete-quest"})
    assert first.status_code == 201, first.text
    assert await score_on(db, "side") == 10
    second = await client.post("/api/scores", headers=me.headers, json={"actionId": "complete-quest"})
    assert second.status_code == 201, second.text
    assert await score_on(db, "side") == 20
    await db.execute("UPDATE boards SET is_active = false WHERE id = 'side'")
    third = await client.post("/api/scores", headers=me.headers, json={"actionId": "complete-quest"})
    assert third.status_code == 201, third.text
    assert third.json()["newScore"] == second.json()["newScore"] + 10
    assert await score_on(db, "side") == 20
    assert await db.fetchval("SELECT count(*) FROM score_history WHERE user_id = $1", me.id) == 5


async def test_the_global_only_statement_writes_nothing_while_another_board_counts_points(
    db: asyncpg.Connection,
) -> None:
    """It answers a row of NULLs and leaves the score, the history and the policy counters untouched."""
    user = await create_user(db)
    args = (user, "complete-quest", None, None, None, None, True)
    awarded = await db.fetchrow(repository.AWARD_GLOBAL_ONLY, *args)
    assert awarded is not None
    assert awarded["replayed"] is False
    assert awarded["balance_after"] == 10
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('side', 'Side', 'weekly')")
    refused = await db.fetchrow(repository.AWARD_GLOBAL_ONLY, *args)
    assert refused is not None
    assert refused["replayed"] is None
    assert refused["elsewhere"] is True
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", user) == 10
    assert await db.fetchval("SELECT count(*) FROM score_history WHERE user_id = $1", user) == 1
    assert await db.fetchval("SELECT count(*) FROM user_action_counters WHERE user_id = $1", user) == 1
    counted = await db.fetchrow(repository.AWARD, *args)
    assert counted is not None
    assert counted["balance_after"] == 20
    assert counted["elsewhere"] is True
    assert await score_on(db, "side") == 10


async def test_a_replay_through_the_global_only_statement_answers_the_original_award(
    db: asyncpg.Connection,
) -> None:
    """With or without other boards, a key already used finds its award and writes nothing."""
    user = await create_user(db)
    args = (user, "complete-quest", None, None, None, "key-1", True)
    original = await db.fetchrow(repository.AWARD, *args)
    assert original is not None
    assert original["replayed"] is False
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('side', 'Side', 'monthly')")
    replayed = await db.fetchrow(repository.AWARD_GLOBAL_ONLY, *args)
    assert replayed is not None
    assert replayed["replayed"] is True
    assert replayed["id"] == original["id"]
    assert await db.fetchval("SELECT count(*) FROM score_history WHERE user_id = $1", user) == 1


async def test_a_backfill_waits_for_an_award_in_flight_that_did_not_see_the_new_board(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The award began before the board existed (no board_scores row of its own); the backfill must count it."""
    user = await create_user(db)
    blocker = await asyncpg.connect(database_url)
    pool = await asyncpg.create_pool(database_url, min_size=0)
    try:
        repository._hint.global_only = True  # the lighter statement, as after awards with no other board
        held = blocker.transaction()
        await held.start()
        await blocker.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user)  # the award waits on the row
        async with pool.acquire() as conn, pool.acquire() as other:
            awarding = asyncio.create_task(
                repository.award(
                    conn,
                    user_id=user,
                    action_id="complete-quest",
                    reason=None,
                    ip=None,
                    user_agent=None,
                    idempotency_key=None,
                    trusted=True,
                )
            )
            await asyncio.sleep(0.3)  # its snapshot is taken: the board below is not in it
            await db.execute("INSERT INTO boards (id, name, period) VALUES ('side', 'Side', 'daily')")
            backfilling = asyncio.create_task(boards_repository.backfill(other, "side"))
            await asyncio.sleep(0.3)
            await held.rollback()
            awarded = await asyncio.wait_for(awarding, 10)
            await asyncio.wait_for(backfilling, 10)
        assert awarded is not None
        assert awarded["replayed"] is False
        assert await score_on(db, "side") == 10
    finally:
        await blocker.close()
        await pool.close()


async def test_backfills_between_awards_of_both_statements_never_deadlock(
    database_url: str, db: asyncpg.Connection
) -> None:
    """The backfill takes its locks in the order awards take theirs (PostgreSQL would abort one of a cycle)."""
    users = [await create_user(db) for _ in range(8)]
    await db.execute("INSERT INTO boards (id, name, period) VALUES ('side', 'Side', 'daily')")
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=12)
    stop = asyncio.get_running_loop().time() + 3
    failures: list[BaseException] = []

    async def awarding(user: object, statement: str) -> None:
        while asyncio.get_running_loop().time() < stop:
            try:
                async with pool.acquire() as conn:
                    await conn.fetchrow(statement, user, "complete-quest", None, None, None, None, True)
            except asyncpg.PostgresError as exc:
                failures.append(exc)

    async def backfilling() -> None:
        while asyncio.get_running_loop().time() < stop:
            try:
                async with pool.acquire() as conn:
                    await boards_repository.backfill(conn, "side")
            except asyncpg.PostgresError as exc:
                failures.append(exc)

    try:
        statements = (repository.AWARD, repository.AWARD_GLOBAL_ONLY)
        await asyncio.gather(backfilling(), *(awarding(u, statements[n % 2]) for n, u in enumerate(users)))
    finally:
        await pool.close()
    assert failures == []
