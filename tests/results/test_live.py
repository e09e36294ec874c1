"""Result boards live over real TCP: a snapshot, then a `result_update` for each submission and removal."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from scoreboard.config import Settings
from tests.fixtures.accounts import admin, player
from tests.fixtures.apps import running
from tests.fixtures.results import result_board, results_key, submit, table
from tests.fixtures.streams import serving, sse


async def test_a_result_board_stream_follows_submissions_and_removals(
    settings: Settings, db: asyncpg.Connection
) -> None:
    async with running(settings) as app:
        await asyncio.wait_for(app.state["hub"].subscribed.wait(), 10)
        transport = httpx.ASGITransport(app=app)
        async with serving(app) as base, httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            boss = await admin(client, db)
            server = await results_key(client, boss)
            board = await result_board(client, boss, "laps", sort="asc")
            alice, bob = await player(client), await player(client)
            await submit(client, server, "laps", alice.id, 61_000)
            async with sse(base, "/api/boards/laps/stream", params={"limit": 5}) as stream:
                snapshot = (await stream.until("snapshot")).data
                assert (snapshot["boardId"], snapshot["period"]) == ("laps", board["currentPeriod"])
                assert table(snapshot["leaderboard"]) == [(str(alice.id), 61_000, 1)]
                faster = await submit(client, server, "laps", bob.id, 60_000)
                update = (await stream.until("result_update")).data
                assert (update["userId"], update["best"], update["rank"], update["improved"]) == (
                    str(bob.id),
                    60_000,
                    1,
                    True,
                )
                assert update["submissionId"] == faster["submissionId"]
                assert table(update["leaderboard"]) == [(str(bob.id), 60_000, 1), (str(alice.id), 61_000, 2)]
                removed = await client.post(
                    f"/api/admin/results/{faster['submissionId']}/remove",
                    headers=boss.headers,
                    json={"reason": "cut the chicane"},
                )
                assert removed.status_code == 200, removed.text
                after = (await stream.until("result_update")).data
                assert (after["userId"], after["best"], after["rank"]) == (str(bob.id), None, None)
                assert table(after["leaderboard"]) == [(str(alice.id), 61_000, 1)]
