"""POST /api/scores: server-authoritative points, exactly once, race-free, published in the seed's format."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi.routing import iter_route_contexts
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.scores.audit import Rejection
from tests.fixtures.accounts import Account, admin, player
from tests.fixtures.apps import Running, running
from tests.fixtures.seed_queries import SEED_QUERIES


@asynccontextmanager
async def instance(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Running]]:
    """Run an app with `settings` and yield a client and the app."""
    async with running(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app


async def award(client: httpx.AsyncClient, account: Account, action: str = "complete-quest", **extra: object):
    """POST one award as `account`."""
    headers = dict(account.headers)
    key = extra.pop("key", None)
    if key is not None:
        headers["Idempotency-Key"] = key if isinstance(key, str | bytes) else str(key)  # type: ignore[assignment]
    return await client.post("/api/scores", headers=headers, json={"actionId": action, **extra})


async def api_key(client: httpx.AsyncClient, db: asyncpg.Connection) -> dict[str, str]:
    """Headers of a trusted server's key with scores:write."""
    boss = await admin(client, db)
    created = await client.post(
        "/api/admin/api-keys", headers=boss.headers, json={"name": "game", "scopes": ["scores:write"]}
    )
    return {"X-API-Key": created.json()["key"]}


async def test_award_uses_catalog_points_and_updates_everything(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """201 with the award; PostgreSQL, the sorted set, the score cache and the audit row all agree."""
    account = await player(client)
    response = await client.post(
        "/api/scores",
        headers={**account.headers, "User-Agent": "game-client/1.2"},
        json={"actionId": "achievement-unlock", "reason": "beat the dragon"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"userId", "newScore", "scoreChange", "actionId", "rank", "historyId", "timestamp"}
    assert (body["userId"], body["newScore"], body["scoreChange"], body["rank"]) == (str(account.id), 25, 25, 1)
    assert response.headers["ratelimit-limit"] == "10"
    assert response.headers["ratelimit-remaining"] == "9"
    row = await db.fetchrow("SELECT * FROM score_history WHERE id = $1", body["historyId"])
    assert (row["points_awarded"], row["balance_before"], row["balance_after"]) == (25, 0, 25)
    assert (row["reason"], row["user_agent"], str(row["ip_address"])) == (
        "beat the dragon",
        "game-client/1.2",
        "127.0.0.1",
    )
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", account.id) == 25
    assert await redis.zscore("leaderboard", str(account.id)) == 25
    assert await redis.get(f"user:{account.id}:score") == "25"
    assert 3500 < await redis.ttl(f"user:{account.id}:score") <= 3600


async def test_award_publishes_the_seed_message(client: httpx.AsyncClient, redis: Redis) -> None:
    """Subscribers of leaderboard:updates get the seed's JSON with the top 10 and usernames."""
    leader = await player(client)
    await award(client, leader, "achievement-unlock")
    pubsub = redis.pubsub()
    await pubsub.subscribe("leaderboard:updates")
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    account = await player(client)
    await award(client, account)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    await pubsub.aclose()
    assert message is not None
    payload = json.loads(message["data"])
    assert {k: payload[k] for k in ("type", "userId", "newScore", "scoreChange", "actionId", "rank")} == {
        "type": "score_update",
        "userId": str(account.id),
        "newScore": 10,
        "scoreChange": 10,
        "actionId": "complete-quest",
        "rank": 2,
    }
    assert payload["timestamp"].endswith("Z")
    assert payload["leaderboard"] == [
        {"rank": 1, "userId": str(leader.id), "score": 25, "username": leader.username},
        {"rank": 2, "userId": str(account.id), "score": 10, "username": account.username},
    ]
    assert isinstance(payload["eventId"], int)


async def test_players_cannot_choose_points_or_targets(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Points in the body, another user's id, or no credentials: refused, nothing awarded."""
    account, other = await player(client), await player(client)
    assert (await award(client, account, points=1000)).status_code == 422
    assert (await award(client, account, userId=str(other.id))).status_code == 422
    assert (await client.post("/api/scores", json={"actionId": "complete-quest"})).status_code == 401
    assert await db.fetchval("SELECT count(*) FROM score_history") == 0


async def test_trusted_server_awards_any_user_including_server_only_actions(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """An API key with scores:write names the user; players cannot report server-only actions."""
    account = await player(client)
    refused = await award(client, account, "purchase-item")
    assert (refused.status_code, "trusted game server" in refused.json()["detail"]) == (403, True)
    headers = await api_key(client, db)
    ok = await client.post(
        "/api/scores", headers=headers, json={"actionId": "purchase-item", "userId": str(account.id)}
    )
    assert (ok.status_code, ok.json()["newScore"]) == (201, 100)
    missing = await client.post("/api/scores", headers=headers, json={"actionId": "complete-quest"})
    assert missing.status_code == 422
    ghost = await client.post(
        "/api/scores",
        headers=headers,
        json={"actionId": "complete-quest", "userId": "00000000-0000-0000-0000-000000000000"},
    )
    assert ghost.status_code == 404


async def test_unknown_and_inactive_actions_are_404(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Only active catalog actions award points."""
    account = await player(client)
    assert (await award(client, account, "no-such-action")).status_code == 404
    await db.execute("UPDATE actions SET is_active = false WHERE id = 'complete-quest'")
    assert (await award(client, account)).status_code == 404
    assert (await award(client, account, "bad action id!")).status_code == 422


async def test_daily_login_once_per_utc_day(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """A second daily-login the same UTC day is refused with when it becomes possible."""
    account = await player(client)
    assert (await award(client, account, "daily-login")).status_code == 201
    second = await award(client, account, "daily-login")
    assert second.status_code == 429
    assert second.json()["reason"] == "max_per_day"
    assert second.json()["availableAt"].endswith("T00:00:00Z")
    assert 1 <= int(second.headers["retry-after"]) <= 86_401
    # Yesterday's login does not count against today.
    await db.execute("UPDATE user_action_counters SET day = day - 1")
    assert (await award(client, account, "daily-login")).status_code == 201


async def test_concurrent_daily_logins_award_once(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Ten simultaneous daily-logins: exactly one award (the policy is checked on the locked row)."""
    account = await player(client)
    responses = await asyncio.gather(*(award(client, account, "daily-login") for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [201] + [429] * 9
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", account.id) == 5


async def test_cooldown_says_when(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """An action with a cooldown refuses until it has passed, naming the time."""
    await db.execute("UPDATE actions SET cooldown_seconds = 300 WHERE id = 'complete-quest'")
    account = await player(client)
    assert (await award(client, account)).status_code == 201
    again = await award(client, account)
    assert (again.status_code, again.json()["reason"]) == (429, "cooldown")
    assert 295 <= int(again.headers["retry-after"]) <= 301
    await db.execute("UPDATE user_action_counters SET last_awarded_at = last_awarded_at - interval '301 seconds'")
    assert (await award(client, account)).status_code == 201


async def test_idempotent_replay_returns_the_original(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """The same key returns the same body with a replay header; a different action with it is 409."""
    account = await player(client)
    first = await award(client, account, key="quest-42")
    again = await award(client, account, key="quest-42")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await award(client, account, "achievement-unlock", key="quest-42")).status_code == 409
    assert await db.fetchval("SELECT count(*) FROM score_history") == 1
    for bad in ("", "x" * 256, "tab\there", "ünïcode".encode()):
        assert (await award(client, account, key=bad)).status_code in (400, 422)


async def test_replay_survives_redis_losing_everything(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """Exactly-once is PostgreSQL's: after FLUSHALL a replay still awards nothing."""
    account = await player(client)
    first = await award(client, account, key="k1")
    await redis.flushdb()
    again = await award(client, account, key="k1")
    assert again.status_code == 201
    assert again.json()["historyId"] == first.json()["historyId"]
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", account.id) == 10


async def test_hundred_concurrent_requests_with_one_key_award_once(settings: Settings, db: asyncpg.Connection) -> None:
    """100 simultaneous requests, one key: one award, 100 identical bodies."""
    async with instance(settings.model_copy(update={"score_rate_limit": 1000})) as (http, _):
        account = await player(http)
        responses = await asyncio.gather(*(award(http, account, key="same") for _ in range(100)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert await db.fetchval("SELECT count(*) FROM score_history") == 1


async def test_race_fifty_clients_forty_awards_one_user(
    settings: Settings, db: asyncpg.Connection, redis: Redis
) -> None:
    """2000 concurrent awards to one user: no lost update, gap-free balance chain, Redis equals PostgreSQL."""
    async with instance(settings.model_copy(update={"score_rate_limit": 10_000})) as (http, _):
        account = await player(http)

        async def client_loop() -> list[int]:
            return [(await award(http, account)).status_code for _ in range(40)]

        statuses = [s for batch in await asyncio.gather(*(client_loop() for _ in range(50))) for s in batch]
    assert statuses.count(201) == 2000
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", account.id) == 20_000
    rows = await db.fetch("SELECT balance_before, balance_after FROM score_history ORDER BY balance_after")
    assert len(rows) == 2000
    assert all(r["balance_after"] - r["balance_before"] == 10 for r in rows)
    assert all(prev["balance_after"] == nxt["balance_before"] for prev, nxt in itertools.pairwise(rows))
    assert rows[0]["balance_before"] == 0
    assert await redis.zscore("leaderboard", str(account.id)) == 20_000
    (consistency,) = next(statements for n, _, statements in SEED_QUERIES if n == 14)
    assert await db.fetch(consistency) == []


async def test_rate_limit_admits_exactly_the_limit_and_audits_refusals(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """500 parallel requests from one player: exactly 10 awarded, 490 refused with headers, all audited."""
    account = await player(client)
    responses = await asyncio.gather(*(award(client, account) for _ in range(500)))
    statuses = [r.status_code for r in responses]
    assert (statuses.count(201), statuses.count(429)) == (10, 490)
    refused = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == ("10", "0")
    assert await redis.get(f"rate_limit:{account.id}:/api/scores") == "10"
    await app.state["audit"].flush()
    audit = await db.fetch("SELECT * FROM rate_limit_audit WHERE user_id = $1 ORDER BY attempt_count", account.id)
    assert len(audit) == 490
    assert {(r["endpoint"], r["limit_exceeded"], str(r["ip_address"])) for r in audit} == {
        ("/api/scores", True, "127.0.0.1")
    }
    assert [r["attempt_count"] for r in audit] == list(range(11, 501))


async def test_window_edge_burst_is_refused_over_http(settings: Settings, db: asyncpg.Connection) -> None:
    """Limit at the end of one window and at the start of the next: never more than the limit in any window."""
    window = 3.0
    loop = asyncio.get_running_loop()
    async with instance(settings.model_copy(update={"score_rate_window_seconds": int(window)})) as (http, _):
        account = await player(http)
        started = loop.time()
        first = [await award(http, account) for _ in range(10)]
        filled = loop.time()
        # Past where a fixed window starting with the first request would have reset, but within the sliding one.
        await asyncio.sleep(max(0.0, started + window / 2 - loop.time()))
        edge = await asyncio.gather(*(award(http, account) for _ in range(10)))
        assert loop.time() < started + window, "the machine was too slow for this test to mean anything"
        await asyncio.sleep(filled + window + 0.3 - loop.time())  # every event of the first burst has left
        later = [await award(http, account) for _ in range(11)]
    assert [r.status_code for r in first] == [201] * 10
    assert {r.status_code for r in edge} == {429}
    assert [r.status_code for r in later] == [201] * 10 + [429]


async def test_audit_rows_survive_shutdown(settings: Settings, db: asyncpg.Connection) -> None:
    """Rows still queued when the app shuts down gracefully are written."""
    strict = settings.model_copy(update={"score_rate_limit": 1})
    async with instance(strict) as (http, _):
        account = await player(http)
        await asyncio.gather(*(award(http, account) for _ in range(6)))
    assert await db.fetchval("SELECT count(*) FROM rate_limit_audit") == 5


async def test_postgres_down_is_503_and_writes_nothing(
    client: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    """With PostgreSQL unreachable: 503, no score, and the rate-limit slot is given back."""
    account = await player(client)
    down = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x"})
    async with instance(down) as (http, _):
        response = await award(http, account)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert await redis.zscore("leaderboard", str(account.id)) == 0  # on the board since registration, unchanged
    assert await redis.get(f"rate_limit:{account.id}:/api/scores") is None


async def test_redis_down_fails_closed_for_players_and_open_for_servers(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
) -> None:
    """Without Redis: players get 503 (no limiter, no awards); trusted servers' awards commit with a SQL rank."""
    account = await player(client)
    headers = await api_key(client, db)
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with instance(no_redis) as (http, _):
        assert (await award(http, account)).status_code == 503
        served = await http.post(
            "/api/scores", headers=headers, json={"actionId": "complete-quest", "userId": str(account.id)}
        )
    assert (served.status_code, served.json()["rank"], served.json()["newScore"]) == (201, 1, 10)
    assert await db.fetchval("SELECT count(*) FROM score_history") == 1


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"{not json", 422), (b'{"actionId": "complete-quest", "extra": 1}', 422), (b"x" * 20_000, 413)],
)
async def test_bad_bodies_are_4xx(client: httpx.AsyncClient, content: bytes, status: int) -> None:
    """Malformed, over-specified and oversized bodies are problems, never 500."""
    account = await player(client)
    response = await client.post(
        "/api/scores", headers={**account.headers, "content-type": "application/json"}, content=content
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def _shape(response: httpx.Response) -> tuple[object, ...]:
    """What a client sees of a response, less the values that differ per award (ids, scores, times)."""
    body = response.json()
    errors = [tuple(err["loc"]) for err in body.get("errors", [])]
    names = ("content-type", "www-authenticate", "idempotent-replayed", "ratelimit-limit", "retry-after")
    headers = {k: response.headers.get(k) for k in names}
    seen = sorted(body) if response.status_code < 300 else (body["title"], body.get("detail"), body.get("instance"))
    return response.status_code, headers, seen, errors


async def _streamed(content: bytes) -> AsyncIterator[bytes]:
    """A body sent in parts, without Content-Length."""
    half = len(content) // 2
    yield content[:half]
    yield content[half:]


async def _cases(client: httpx.AsyncClient, db: asyncpg.Connection) -> list[tuple[object, ...]]:
    account, server = await player(client), await api_key(client, db)
    headers = {**account.headers, "content-type": "application/json"}
    replay = {**server, "Idempotency-Key": "k-1"}
    target = {"actionId": "complete-quest", "userId": str(account.id)}
    sent = [
        await client.post("/api/scores", headers=replay, json=target),
        await client.post("/api/scores", headers=replay, json=target),
        await client.post("/api/scores", json={"actionId": "complete-quest"}),
        await client.post("/api/scores", headers={**account.headers, **server}, json={"actionId": "complete-quest"}),
        await client.post("/api/scores", headers={"Authorization": "Bearer ", **server}, json=target),
        await client.post("/api/scores", headers={"Authorization": "Basic eDp5", **server}, json=target),
        await client.post("/api/scores", headers={"Authorization": "Basic eDp5"}, json={"actionId": "complete-quest"}),
        await client.post("/api/scores", headers=headers, content=b"{not json"),
        await client.post("/api/scores", headers=headers, content=b'{"actionId": "complete-quest", "extra": 1}'),
        await client.post("/api/scores", headers=headers, content=b'{"reason": "no action"}'),
        await client.post("/api/scores", headers=headers, content=b""),
        await client.post("/api/scores", headers=account.headers, content=b'{"actionId": "complete-quest"}'),
        await client.post("/api/scores", headers=headers, content=b"x" * 20_000),
        await client.post("/api/scores", headers=headers, content=_streamed(b"x" * 20_000)),
        await client.post("/api/scores", headers=headers, content=b'\xef\xbb\xbf{"actionId": "complete-quest"}'),
        await client.post("/api/scores", headers={**headers, "Idempotency-Key": "\x7f"}, json={"actionId": "x"}),
        await client.post("/api/scores", headers=headers, json={"actionId": "no-such-action"}),
        await client.post("/api/scores", headers=headers, json=target),
        await client.post("/api/scores", headers=headers, json={"actionId": "complete-quest"}),
    ]
    return [_shape(response) for response in sent]


async def test_the_award_answers_every_kind_of_request_through_its_one_route(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """One entry: the documented route serves awards, replays and every refusal, and middleware sees each request."""
    assert [c.methods for c in iter_route_contexts(app.app.routes) if c.path == "/api/scores"] == [{"POST"}]
    assert "/api/scores" in (await client.get("/openapi.json")).json()["paths"]
    shapes = await _cases(client, db)
    statuses = [201, 201, 401, 400, 400, 400, 401, 422, 422, 422, 422, 422, 413, 413, 201, 400, 404, 422, 201]
    assert [shape[0] for shape in shapes] == statuses
    assert shapes[1][1]["idempotent-replayed"] == "true"
    assert [shape[3] for shape in shapes[7:12]] == [
        [("body", 1)],
        [("body", "extra")],
        [("body", "actionId")],
        [("body",)],
        [("body",)],
    ]


async def test_json_nested_past_the_parsers_depth_is_a_422(client: httpx.AsyncClient) -> None:
    """A body nested thousands deep is refused as invalid JSON, not a 500 (the decoders have depth limits)."""
    account = await player(client)
    headers = {**account.headers, "content-type": "application/json"}
    for content in (b"[" * 2000 + b"]" * 2000, b'{"actionId": "complete-quest", "reason": ' + b"[" * 8000):
        response = await client.post("/api/scores", headers=headers, content=content)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_a_reason_postgresql_cannot_store_is_a_422_and_awards_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """A NUL character in the reason: 422 problem, no score, no history row, the board unchanged."""
    account = await player(client)
    response = await award(client, account, reason="beat the\x00dragon")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await db.fetchval("SELECT current_score FROM users WHERE id = $1", account.id) == 0
    assert await db.fetchval("SELECT count(*) FROM score_history WHERE user_id = $1", account.id) == 0
    assert await redis.zscore("leaderboard", str(account.id)) == 0  # as registered
    assert (await award(client, account, reason="beat the dragon")).status_code == 201


async def test_an_unusable_client_address_is_recorded_as_unknown(settings: Settings, db: asyncpg.Connection) -> None:
    """Behind a proxy the address is whatever X-Forwarded-For said: one that is not an IP is stored as NULL."""
    strict = settings.model_copy(update={"score_rate_limit": 1})
    async with running(strict) as app:
        transport = httpx.ASGITransport(app=app, client=("not-an-ip", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            account = await player(http)
            assert [(await award(http, account)).status_code for _ in range(2)] == [201, 429]
            await app.state["audit"].flush()
    assert await db.fetchval("SELECT ip_address FROM score_history WHERE user_id = $1", account.id) is None
    assert await db.fetchval("SELECT ip_address FROM auth_sessions WHERE user_id = $1 LIMIT 1", account.id) is None
    audit = await db.fetch("SELECT ip_address FROM rate_limit_audit WHERE user_id = $1", account.id)
    assert [r["ip_address"] for r in audit] == [None]


async def test_a_row_postgresql_refuses_does_not_stop_the_audit_trail(
    app: Running, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """The bad row is dropped and counted; the rows queued with it, and after it, are written."""
    account = await player(client)
    audit = app.state["audit"]
    rows = [Rejection(account.id, "/api/scores", n, ip) for n, ip in ((11, "1.2.3.4"), (12, "not-an-ip"), (13, None))]
    for row in rows:
        audit.record(row)
    await asyncio.wait_for(audit.flush(), 10)
    audit.record(Rejection(account.id, "/api/scores", 14, "5.6.7.8"))
    await asyncio.wait_for(audit.flush(), 10)
    written = await db.fetch(
        "SELECT attempt_count, ip_address FROM rate_limit_audit WHERE user_id = $1 ORDER BY attempt_count", account.id
    )
    assert [(r["attempt_count"], r["ip_address"] and str(r["ip_address"])) for r in written] == [
        (11, "1.2.3.4"),
        (13, None),
        (14, "5.6.7.8"),
    ]
    assert audit.refused == 1


async def test_an_award_while_the_schema_is_being_reset_is_a_503_and_a_vanished_player_a_401(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    """A reset or restore under way is the store being away (503, Retry-After); a token naming no user is a 401."""
    account = await player(client)
    assert (await award(client, account)).status_code == 201
    await db.execute("ALTER TABLE score_history RENAME TO score_history_away")
    try:
        response = await award(client, account)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
    finally:
        await db.execute("ALTER TABLE score_history_away RENAME TO score_history")
    await db.execute("DELETE FROM users WHERE id = $1", account.id)  # as a database reset leaves its token
    gone = await award(client, account)
    assert gone.status_code == 401, gone.text
    assert gone.headers["www-authenticate"].startswith("Bearer")
