"""The rank rule and the `score_update` message: Lua, SQL and Python say the same thing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from scoreboard.kit.pipelined import Pipelined
from scoreboard.leaderboard import keys, repository
from scoreboard.leaderboard.board import Board, Member, Page, PeriodAward
from scoreboard.leaderboard.messages import ScoreUpdateMessage, board_update, rank_after, rows

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def board(redis_url: str) -> AsyncIterator[Board]:
    client = Pipelined.from_url(redis_url)
    try:
        yield Board(client)
    finally:
        await client.aclose()


async def _players(db: asyncpg.Connection, scores: list[int]) -> list[UUID]:
    ids = [uuid4() for _ in scores]
    await db.executemany(
        """
        INSERT INTO users (id, username, email, password_hash, current_score, last_activity_at)
        VALUES ($1, $2, $3, 'x', $4, $5)
        """,
        [
            (uid, f"p{i}", f"p{i}@example.com", score, T0 + timedelta(seconds=i))
            for i, (uid, score) in enumerate(zip(ids, scores, strict=True))
        ],
    )
    return ids


async def _mirror(board: Board, db: asyncpg.Connection, redis: Redis) -> None:
    rows_ = await db.fetch(
        "SELECT id, username, current_score, COALESCE(last_activity_at, created_at) AS reached FROM users"
    )
    await board.sync([Member(r["id"], r["username"], r["current_score"], r["reached"]) for r in rows_], "exact")
    await redis.set(keys.BUILT, "now")  # the board mirrors PostgreSQL: reads answer from it


async def test_a_published_award_is_a_score_update_message_with_the_boards_rows_and_ranks(
    board: Board, db: asyncpg.Connection, redis: Redis
) -> None:
    ids = await _players(db, [50, 40, 40, 10, 0])
    await _mirror(board, db, redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.UPDATES)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    await db.execute("UPDATE users SET current_score = 45 WHERE id = $1", ids[3])
    at = T0 + timedelta(hours=1)
    applied = await board.apply_award(
        user_id=ids[3], username="p3", new_score=45, score_change=35, action_id="quest", at=at, history_id=7
    )
    message = None
    async with asyncio.timeout(5):
        while message is None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    await pubsub.aclose()  # type: ignore[no-untyped-call]

    parsed = ScoreUpdateMessage.model_validate_json(message["data"])  # no field missing, none unknown
    assert parsed.user_id == ids[3]
    assert (parsed.new_score, parsed.score_change, parsed.previous_score) == (45, 35, 10)
    assert parsed.rank == applied.rank == 2
    assert parsed.event_id == applied.event_id
    assert parsed.timestamp == "2026-01-01T01:00:00Z"
    # The rows Lua built are the rows Python builds from a page of the same board.
    assert orjson.loads(message["data"])["leaderboard"] == rows(await board.page(0, board.top_n))
    # The award's rank is the rule's, in Lua and in SQL.
    assert parsed.rank == await board.rank_of(45) == await repository.rank_of(db, 45)


async def test_each_period_in_the_message_says_what_it_held_before_even_for_awards_out_of_order(
    board: Board, db: asyncpg.Connection, redis: Redis
) -> None:
    """The later award (30 on the day) reaches Redis first: the earlier one then moves nothing, and says so."""
    (uid,) = await _players(db, [0])
    await _mirror(board, db, redis)
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.UPDATES)
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    for score, history_id in ((30, 2), (20, 1)):
        await board.apply_award(
            user_id=uid,
            username="p0",
            new_score=score,
            score_change=10,
            action_id="quest",
            at=T0 + timedelta(minutes=history_id),
            history_id=history_id,
            periods=[PeriodAward("day", "2026-01-01", score, 0)],
        )
    raw: list[bytes] = []
    async with asyncio.timeout(5):
        while len(raw) < 2:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                raw.append(message["data"])
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    published = [ScoreUpdateMessage.model_validate_json(data) for data in raw]  # no field missing, none unknown
    assert [(m.new_score, m.previous_score) for m in published] == [(30, 0), (30, 30)]
    days = [day for m in published for day in m.boards or ()]
    assert [(d.board_id, d.score, d.previous_score, d.rank) for d in days] == [("day", 30, 0, 1), ("day", 30, 30, 1)]
    # What a stream of that board is sent: the seed's fields with the period's own score, rank and previous score.
    award = orjson.loads(raw[1])
    update = board_update(award, award["boards"][0], Page([], 0))
    assert update == {
        "userId": str(uid),
        "newScore": 30,
        "scoreChange": 10,
        "actionId": "quest",
        "rank": 1,
        "timestamp": award["timestamp"],
        "leaderboard": [],
        "previousScore": 30,
    }


scores = st.lists(st.integers(0, 6).map(lambda s: s * 10), min_size=1, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=scores, probe=st.integers(0, 70))
async def test_the_rank_rule_is_the_same_in_lua_and_in_every_sql_path(
    board: Board, db: asyncpg.Connection, redis: Redis, scores: list[int], probe: int
) -> None:
    await db.execute("DELETE FROM users")
    await redis.delete(*keys.DERIVED)
    ids = await _players(db, scores)
    await _mirror(board, db, redis)
    expected = 1 + sum(1 for s in scores if s > probe)  # competition ranking: 1 + players strictly higher
    assert await board.rank_of(probe) == await repository.rank_of(db, probe) == expected
    # Pages and single rows (the public profile's form) agree with it, player by player.
    page = {r["id"]: r["rank"] for r in await repository.page(db, 0, 100)}
    single = dict(await db.fetch(f"SELECT id, {repository.rank_sql('current_score')} FROM users"))
    for uid, score in zip(ids, scores, strict=True):
        assert page[uid] == single[uid] == 1 + sum(1 for s in scores if s > score)


@given(
    rank=st.integers(1, 100),
    score=st.integers(0, 100),
    before=st.integers(0, 100),
    gain=st.integers(1, 50),
)
def test_a_rank_drops_by_one_exactly_when_another_player_passes_its_score(
    rank: int, score: int, before: int, gain: int
) -> None:
    after = before + gain
    higher_before = rank - 1
    # Recount the rule directly: the mover counts as higher before iff before > score, after iff after > score.
    higher_after = higher_before - (before > score) + (after > score)
    assert rank_after(rank, score, before=before, after=after) == 1 + higher_after
