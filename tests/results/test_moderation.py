"""Moderation and integrity of result boards: removals recompute standings, checks find hand edits, backfill heals."""

from __future__ import annotations

import asyncpg
import httpx
from redis.asyncio import Redis

from scoreboard.integrity import service as integrity
from tests.fixtures.accounts import Account, player
from tests.fixtures.apps import Running
from tests.fixtures.boards import entries
from tests.fixtures.problems import assert_problem
from tests.fixtures.results import result_board, submit, table


async def remove(client: httpx.AsyncClient, boss: Account, submission_id: int, reason: str) -> httpx.Response:
    """Ask to remove a submission."""
    return await client.post(
        f"/api/admin/results/{submission_id}/remove", headers=boss.headers, json={"reason": reason}
    )


async def test_removing_a_cheaters_best_recomputes_the_standing_on_both_stores_and_is_audited(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection, redis: Redis
) -> None:
    board = await result_board(client, boss, "laps", sort="asc")
    alice, bob = await player(client), await player(client)
    cheat = await submit(client, server, "laps", alice.id, 1_000, metadata={"replay": "impossible"})
    await submit(client, server, "laps", alice.id, 60_000, metadata={"replay": "honest"})
    await submit(client, server, "laps", bob.id, 59_000)
    assert table((await entries(client, "laps"))["entries"])[0] == (str(alice.id), 1_000, 1)

    removed = await remove(client, boss, cheat["submissionId"], "  physically impossible lap  ")
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert (body["removedBy"], body["removalReason"], body["value"]) == (
        str(boss.id),
        "physically impossible lap",
        1_000,
    )
    page = await entries(client, "laps")
    assert table(page["entries"]) == [(str(bob.id), 59_000, 1), (str(alice.id), 60_000, 2)]
    assert page["entries"][1]["metadata"] == {"replay": "honest"}
    family = f"board:{{laps:{board['currentPeriod']}}}"
    assert await redis.zscore(family, str(alice.id)) == -60_000  # the lowest first: held negated
    row = await db.fetchrow(
        "SELECT removed_at, removed_by, removal_reason FROM result_submissions WHERE id = $1", cheat["submissionId"]
    )
    assert row["removed_at"] is not None
    assert row["removed_by"] == boss.id

    listed = await client.get("/api/admin/boards/laps/results", headers=boss.headers, params={"userId": str(alice.id)})
    assert [(s["value"], s["removalReason"]) for s in listed.json()["submissions"]] == [
        (60_000, None),
        (1_000, "physically impossible lap"),
    ]
    assert_problem(await remove(client, boss, cheat["submissionId"], "again"), 409)


async def test_removing_every_submission_takes_the_player_off_the_board(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection, redis: Redis
) -> None:
    board = await result_board(client, boss, "level", keep="latest")
    alice, bob = await player(client), await player(client)
    first = await submit(client, server, "level", alice.id, 10)
    second = await submit(client, server, "level", alice.id, 30)
    await submit(client, server, "level", bob.id, 20)
    assert (await remove(client, boss, second["submissionId"], "bot")).status_code == 200
    assert table((await entries(client, "level"))["entries"]) == [(str(bob.id), 20, 1), (str(alice.id), 10, 2)]
    assert (await remove(client, boss, first["submissionId"], "bot")).status_code == 200
    assert table((await entries(client, "level"))["entries"]) == [(str(bob.id), 20, 1)]
    assert await redis.zscore(f"board:{{level:{board['currentPeriod']}}}", str(alice.id)) is None
    assert await db.fetchval("SELECT count(*) FROM result_standings WHERE user_id = $1", alice.id) == 0
    mine = await client.get("/api/boards/level/me", headers=alice.headers)
    assert_problem(mine, 404)


async def test_unknown_submissions_and_boards_are_404s(client: httpx.AsyncClient, boss: Account) -> None:
    assert_problem(await remove(client, boss, 987_654, "no such"), 404)
    assert_problem(await client.get("/api/admin/boards/no-such-board/results", headers=boss.headers), 404)
    bad = await client.post("/api/admin/results/1/remove", headers=boss.headers, json={"reason": ""})
    assert_problem(bad, 422)
    assert_problem(await client.post("/api/admin/results/lap/remove", headers=boss.headers, json={"reason": "x"}), 422)
    await result_board(client, boss, "runs")
    for params in ({"limit": 0}, {"limit": 501}, {"userId": "not-a-uuid"}, {"period": "x" * 17}):
        assert_problem(await client.get("/api/admin/boards/runs/results", headers=boss.headers, params=params), 422)


async def test_a_standing_edited_by_hand_is_found_and_a_backfill_derives_it_again(
    client: httpx.AsyncClient, boss: Account, server: dict[str, str], db: asyncpg.Connection, app: Running
) -> None:
    await result_board(client, boss, "runs")
    alice, bob = await player(client), await player(client)
    await submit(client, server, "runs", alice.id, 50)
    await submit(client, server, "runs", alice.id, 70)
    await submit(client, server, "runs", bob.id, 60)
    await db.execute("UPDATE result_standings SET value = 999, rank_value = 999 WHERE user_id = $1", bob.id)
    report = await integrity.run(app.state["pool"], app.state["background_redis"])
    (found,) = [c for c in report.checks if c.name == "result-standing"]
    assert found.count == 1
    assert not found.repairable
    backfilled = await client.post("/api/admin/boards/runs/backfill", headers=boss.headers)
    assert backfilled.status_code == 200, backfilled.text
    assert backfilled.json()["standings"] == 2
    report = await integrity.run(app.state["pool"], app.state["background_redis"])
    assert report.ok, [c for c in report.checks if c.count]
    assert table((await entries(client, "runs"))["entries"]) == [(str(alice.id), 70, 1), (str(bob.id), 60, 2)]
