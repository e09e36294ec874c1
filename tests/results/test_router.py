"""POST /api/boards/{id}/results: best or latest, highest or lowest first, bounds, exactly once, races, who may."""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.leaderboard import reconciler
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.apps import Running, running
from tests.fixtures.boards import add_board, entries
from tests.fixtures.problems import assert_problem
from tests.fixtures.results import post_result, result_board, results_key, submit, table


async def standing(db: asyncpg.Connection, board_id: str, user_id: object) -> int | None:
    """The player's standing value in PostgreSQL."""
    value: int | None = await db.fetchval(
        "SELECT value FROM result_standings WHERE board_id = $1 AND user_id = $2", board_id, user_id
    )
    return value


async def test_a_best_board_keeps_each_players_highest_and_the_first_to_reach_a_value_ranks_first(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "runs")
    alice, bob, carol = await player(client), await player(client), await player(client)
    first = await submit(client, server, "runs", alice.id, 100, metadata={"replay": "a1"})
    assert first | {"submissionId": 0} == {
        "userId": str(alice.id),
        "value": 100,
        "best": 100,
        "rank": 1,
        "improved": True,
        "submissionId": 0,
        "boardId": "runs",
        "period": first["period"],
    }
    assert (await submit(client, server, "runs", bob.id, 150))["rank"] == 1
    worse = await submit(client, server, "runs", alice.id, 90)
    assert (worse["value"], worse["best"], worse["rank"], worse["improved"]) == (90, 100, 2, False)
    tied = await submit(client, server, "runs", alice.id, 150)
    assert (tied["best"], tied["rank"], tied["improved"]) == (150, 1, True)
    await submit(client, server, "runs", carol.id, 120)
    page = await entries(client, "runs")
    # Bob reached 150 first: he is listed first, both rank 1 (competition ranks), Carol third.
    assert table(page["entries"]) == [(str(bob.id), 150, 1), (str(alice.id), 150, 1), (str(carol.id), 120, 3)]
    assert page["totalPlayers"] == 3
    assert await db.fetchval("SELECT count(*) FROM result_submissions WHERE board_id = 'runs'") == 5


async def test_a_latest_board_keeps_the_last_result_even_when_it_is_worse(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "level", keep="latest")
    alice, bob = await player(client), await player(client)
    await submit(client, server, "level", alice.id, 40)
    await submit(client, server, "level", bob.id, 30)
    lower = await submit(client, server, "level", alice.id, 20)
    assert (lower["best"], lower["rank"], lower["improved"]) == (20, 2, False)
    higher = await submit(client, server, "level", alice.id, 35)
    assert (higher["best"], higher["rank"], higher["improved"]) == (35, 1, True)
    assert table((await entries(client, "level"))["entries"]) == [(str(alice.id), 35, 1), (str(bob.id), 30, 2)]
    assert await standing(db, "level", alice.id) == 35


async def test_a_periods_redis_keys_expire_after_its_end_and_grace(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], app: Running, redis: Redis
) -> None:
    """A daily result board's keys outlive its day by the grace, then Redis drops them (PostgreSQL keeps it)."""
    board = await result_board(client, boss, "sprints")
    await submit(client, server, "sprints", (await player(client)).id, 42)
    family = await redis.keys(f"*{{sprints:{board['currentPeriod']}}}*")
    assert len(family) >= 4, family  # the board, its order, usernames and reach times
    ends = datetime.fromisoformat(board["currentPeriodEndsAt"]).timestamp()
    grace = app.state["settings"].board_period_grace_seconds
    for key in family:
        assert abs(await redis.expiretime(key) - (ends + grace)) <= 1, key


async def test_an_ascending_board_ranks_the_lowest_value_first_in_redis_and_postgresql_alike(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], app: Running, redis: Redis
) -> None:
    await result_board(client, boss, "laps", sort="asc", minValue=1)
    alice, bob, carol = await player(client), await player(client), await player(client)
    await submit(client, server, "laps", alice.id, 62_000)
    await submit(client, server, "laps", bob.id, 61_500)
    faster = await submit(client, server, "laps", alice.id, 61_000)
    slower = await submit(client, server, "laps", bob.id, 70_000)
    assert (faster["best"], faster["rank"], faster["improved"]) == (61_000, 1, True)
    assert (slower["best"], slower["rank"], slower["improved"]) == (61_500, 2, False)
    await submit(client, server, "laps", carol.id, 61_500)
    expected = [(str(alice.id), 61_000, 1), (str(bob.id), 61_500, 2), (str(carol.id), 61_500, 2)]
    from_redis = await client.get("/api/boards/laps/entries")
    assert from_redis.headers["x-scoreboard-source"] == "redis"
    assert table(from_redis.json()["entries"]) == expected
    around = await client.get(f"/api/boards/laps/around/{carol.id}", params={"radius": 1})
    assert table(around.json()["entries"]) == expected[1:]
    mine = await client.get("/api/boards/laps/me", headers=carol.headers)
    assert (mine.json()["rank"], mine.json()["score"]) == (2, 61_500)
    await redis.delete("leaderboard:built")  # reads go to PostgreSQL until the board is rebuilt
    from_postgres = await client.get("/api/boards/laps/entries")
    assert from_postgres.headers["x-scoreboard-source"] == "postgres"
    assert table(from_postgres.json()["entries"]) == expected
    # A rebuild loads result boards from their standings as it loads points boards.
    await redis.flushdb()
    await reconciler.rebuild(app.state["pool"], app.state["background_redis"])
    rebuilt = await client.get("/api/boards/laps/entries")
    assert rebuilt.headers["x-scoreboard-source"] == "redis"
    assert table(rebuilt.json()["entries"]) == expected
    assert (await reconciler.check(app.state["pool"], app.state["background_redis"])).boards == []


async def test_entries_carry_the_metadata_of_each_players_standing_submission(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str]
) -> None:
    await result_board(client, boss, "runs")
    await add_board(client, boss, "today", "daily")
    alice, bob = await player(client), await player(client)
    await submit(client, server, "runs", alice.id, 10, metadata={"replay": "r-10", "car": {"id": 7}})
    await submit(client, server, "runs", alice.id, 5, metadata={"replay": "r-5"})
    await submit(client, server, "runs", bob.id, 8)
    page = await entries(client, "runs")
    assert [e["metadata"] for e in page["entries"]] == [{"replay": "r-10", "car": {"id": 7}}, None]
    ranked = await client.post("/api/boards/runs/ranks", json={"userIds": [str(alice.id)]})
    assert ranked.json()["entries"][0]["metadata"] == {"replay": "r-10", "car": {"id": 7}}
    await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
    assert ["metadata" in e for e in (await entries(client, "today"))["entries"]] == [False]  # points boards: none


@pytest.mark.parametrize(
    ("value", "extra"),
    [
        ("10", {}),  # a string is not an integer
        (10.5, {}),
        (True, {}),
        (None, {}),
        (2**63, {}),  # beyond 64 bits
        (1001, {}),  # above the board's maxValue
        (-1, {}),  # below its minValue
        (5, {"metadata": {"blob": "x" * 1100}}),  # more than 1 KB
        (5, {"metadata": ["not", "an", "object"]}),
        (5, {"metadata": {"n": 123456789012345678901234567890}}),  # past 64 bits: JSON's encoder refuses it
        (5, {"metadata": {"s": "\udc00"}}),  # a lone surrogate is not UTF-8
        (5, {"metadata": {"s": "a\x00b"}}),  # jsonb cannot hold NUL
        (5, {"extra": 1}),
    ],
)
async def test_bad_values_and_metadata_are_422s_and_record_nothing(
    client: httpx.AsyncClient,
    boss: Account,
    server: dict[str, str],
    db: asyncpg.Connection,
    value: object,
    extra: dict[str, object],
) -> None:
    await result_board(client, boss, "bounded", minValue=0, maxValue=1000)
    target = await player(client)
    assert_problem(await post_result(client, server, "bounded", target.id, value, **extra), 422)
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 0


async def test_values_redis_cannot_rank_exactly_are_refused_on_unbounded_boards_too(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str]
) -> None:
    await result_board(client, boss, "open")
    target = await player(client)
    assert_problem(await post_result(client, server, "open", target.id, 2**53), 422)
    assert (await submit(client, server, "open", target.id, 2**53 - 1))["best"] == 2**53 - 1
    assert (await submit(client, server, "open", target.id, -(2**53) + 1))["best"] == 2**53 - 1
    bad = await client.post(
        "/api/admin/boards",
        headers=boss.headers,
        json={"id": "wide", "name": "Wide", "period": "daily", "kind": "result", "maxValue": 2**60},
    )
    assert_problem(bad, 422)


async def test_one_idempotency_key_sent_100_times_at_once_records_one_submission(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "runs")
    target = await player(client)
    counted = REGISTRY.get_sample_value("scoreboard_results_total", {"board": "runs"}) or 0.0
    responses = await asyncio.gather(
        *(post_result(client, server, "runs", target.id, 77, key="lap-1") for _ in range(100))
    )
    assert REGISTRY.get_sample_value("scoreboard_results_total", {"board": "runs"}) == counted + 1
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["submissionId"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 99
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 1
    reused = await post_result(client, server, "runs", target.id, 78, key="lap-1")
    assert_problem(reused, 409)


async def test_fifty_concurrent_results_for_one_player_leave_the_best_standing(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection, redis: Redis
) -> None:
    board = await result_board(client, boss, "race")
    target = await player(client)
    values = [(n * 37) % 50 + 1 for n in range(50)]  # 1..50, shuffled
    responses = await asyncio.gather(*(post_result(client, server, "race", target.id, v) for v in values))
    assert {r.status_code for r in responses} == {201}
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 50
    assert await standing(db, "race", target.id) == 50
    key = f"board:{{race:{board['currentPeriod']}}}"
    assert await redis.zscore(key, str(target.id)) == 50
    assert sum(r.json()["improved"] for r in responses) >= 1
    assert [r.json()["best"] for r in responses if r.json()["value"] == 50] == [50]


async def test_only_trusted_servers_with_results_write_submit(
    client: httpx.AsyncClient, boss: Account, db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "runs")
    target = await player(client)
    scores_only = await results_key(client, boss, ("scores:write",))
    for headers in (target.headers, boss.headers, scores_only):
        assert_problem(await post_result(client, headers, "runs", target.id, 5), 403)
    assert_problem(await post_result(client, {}, "runs", target.id, 5), 401)
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 0


async def test_unknown_board_or_player_is_a_404(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str]
) -> None:
    await result_board(client, boss, "runs")
    target = await player(client)
    assert_problem(await post_result(client, server, "no-such-board", target.id, 5), 404)
    assert_problem(await post_result(client, server, "runs", UUID(int=1), 5), 404)


async def test_a_points_board_takes_no_results_and_an_inactive_one_neither(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "runs")
    target = await player(client)
    assert_problem(await post_result(client, server, "global", target.id, 5), 409)
    await client.post("/api/admin/boards/runs/deactivate", headers=boss.headers)
    assert_problem(await post_result(client, server, "runs", target.id, 5), 409)
    await db.execute("UPDATE users SET is_active = false WHERE id = $1", target.id)
    await client.patch("/api/admin/boards/runs", headers=boss.headers, json={"isActive": True})
    assert_problem(await post_result(client, server, "runs", target.id, 5), 403)
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 0


async def test_a_result_board_never_counts_awards_and_a_points_board_refuses_result_rules(
    client: httpx.AsyncClient, boss: Account, db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "runs")
    alice = await player(client)
    await client.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
    assert await db.fetchval("SELECT count(*) FROM board_scores WHERE board_id = 'runs'") == 0
    body = {"id": "mixed", "name": "Mixed", "period": "daily", "sort": "asc"}
    assert_problem(await client.post("/api/admin/boards", headers=boss.headers, json=body), 422)
    body = {"id": "mixed", "name": "Mixed", "period": "daily", "kind": "result", "actions": ["complete-quest"]}
    assert_problem(await client.post("/api/admin/boards", headers=boss.headers, json=body), 422)
    patch = await client.patch("/api/admin/boards/runs", headers=boss.headers, json={"minValue": 10, "maxValue": 5})
    assert_problem(patch, 422)
    view = (await client.get("/api/boards/runs")).json()
    assert (view["kind"], view["sort"], view["keep"], view["minValue"], view["maxValue"]) == (
        "result",
        "desc",
        "best",
        None,
        None,
    )


async def test_each_api_key_is_rate_limited_apart_from_its_score_updates(
    settings: Settings, db: asyncpg.Connection
) -> None:
    limited = settings.model_copy(update={"score_rate_limit_per_api_key": 3})
    async with running(limited) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            boss = await admin(client, db)
            server = await results_key(client, boss, ("results:write", "scores:write"))
            await result_board(client, boss, "runs")
            target = await player(client)
            for value in (1, 2, 3):
                await submit(client, server, "runs", target.id, value)
            refused = await post_result(client, server, "runs", target.id, 4)
            assert_problem(refused, 429)
            assert int(refused.headers["retry-after"]) >= 1
            award = {"actionId": "complete-quest", "userId": str(target.id)}
            assert (await client.post("/api/scores", json=award, headers=server)).status_code == 201
    assert await db.fetchval("SELECT count(*) FROM result_submissions") == 3


async def test_a_finished_periods_standings_are_its_archive(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection
) -> None:
    await result_board(client, boss, "laps", sort="asc")
    alice, bob = await player(client), await player(client)
    await submit(client, server, "laps", alice.id, 70)
    for user, value in ((alice.id, 65), (bob.id, 64), (alice.id, 63)):  # submitted on the first of the month
        await db.execute(
            "INSERT INTO result_submissions (board_id, period, user_id, value, rank_value, created_at)"
            " VALUES ('laps', '2026-11-01', $1, $2::bigint, -$2::bigint, now() - interval '10 days')",
            user,
            value,
        )
    assert (await client.post("/api/admin/boards/laps/backfill", headers=boss.headers)).json()["standings"] == 3
    archived = await client.get("/api/boards/laps/entries", params={"period": "2026-11-01"})
    assert archived.headers["x-scoreboard-source"] == "postgres"
    assert table(archived.json()["entries"]) == [(str(alice.id), 63, 1), (str(bob.id), 64, 2)]
    assert table((await entries(client, "laps"))["entries"]) == [(str(alice.id), 70, 1)]
