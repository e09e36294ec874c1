"""The OpenAPI document says what the API does: each operation's statuses are the ones it answers, and its rules."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from scoreboard.kit.openapi import SECURED, WITH_BODY, WITH_STORES
from scoreboard.leaderboard.service import sync_members
from tests.fixtures.accounts import PASSWORD, Account, admin, player
from tests.fixtures.apps import Running, running
from tests.fixtures.documented import Documented, undocumented_report
from tests.fixtures.problems import assert_problem

ACTION = "complete-quest"
BOARD = "documented-board"  # a board id of the right shape; no such board unless a test makes it
# A valid body for every operation that takes one, so only the failure under test can refuse it.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/scores"): {"actionId": ACTION},
    ("POST", "/api/auth/register"): {"username": "documented", "email": "documented@example.com", "password": PASSWORD},
    ("POST", "/api/auth/login"): {"login": "documented", "password": PASSWORD},
    ("POST", "/api/auth/refresh"): {"refreshToken": "sbr_unknown"},
    ("POST", "/api/leaderboard/ranks"): {"userIds": [str(uuid4())]},
    ("POST", "/api/users/scores"): {"userIds": [str(uuid4())]},
    ("PATCH", "/api/users/me"): {"metadata": {"team": "red"}},
    ("POST", "/api/users/me/password"): {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
    ("POST", "/api/admin/users"): {"username": "provisioned", "email": "provisioned@example.com", "password": PASSWORD},
    ("POST", "/api/admin/actions"): {"id": "documented-action", "name": "Documented", "points": 3},
    ("PATCH", "/api/admin/actions/{action_id}"): {"points": 11},
    ("POST", "/api/admin/api-keys"): {"name": "game server", "scopes": ["scores:write"]},
    ("POST", "/api/boards/{board_id}/ranks"): {"userIds": [str(uuid4())]},
    ("POST", "/api/admin/boards"): {"id": BOARD, "name": "Documented", "period": "daily"},
    ("PATCH", "/api/admin/boards/{board_id}"): {"name": "Renamed"},
    ("POST", "/api/boards/{board_id}/results"): {"userId": str(uuid4()), "value": 1},
    ("POST", "/api/admin/results/{submission_id}/remove"): {"reason": "documented"},
}
QUERIES: dict[tuple[str, str], dict[str, Any]] = {("GET", "/api/leaderboard/range"): {"min": 0, "max": 10}}
# Registrations per address: enough for every account these tests make from one address.
REGISTRATIONS = 60


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation in the document."""
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def url(path: str) -> str:
    """Fill a documented path's parameters with values of the right shape."""
    return path.format(user_id=uuid4(), key_id=uuid4(), action_id=ACTION, board_id=BOARD, submission_id=1)


@dataclass
class Ctx:
    """What a failure mode needs: a guarded client, the stores, an admin, an API key."""

    app: Running
    client: httpx.AsyncClient
    db: asyncpg.Connection
    redis: Redis
    boss: Account
    key: dict[str, str]

    async def player(self) -> Account:
        """A new, logged-in player whose session PostgreSQL has vouched for."""
        account = await player(self.client)
        assert (await self.client.get("/api/users/me", headers=account.headers)).status_code == 200
        return account

    @asynccontextmanager
    async def from_ip(self, ip: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client of the same app from another address (its own throttles), held to the document too."""
        documented = Documented(self.app, self.app.app)
        transport = httpx.ASGITransport(app=documented, raise_app_exceptions=False, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
        assert not documented.undocumented, undocumented_report(documented.undocumented)


Provoke = Callable[[Ctx], Awaitable[httpx.Response]]


async def _gone(ctx: Ctx, method: str, **kwargs: Any) -> httpx.Response:
    account = await ctx.player()
    await ctx.db.execute("DELETE FROM users WHERE id = $1", account.id)  # as a restore from an older backup would
    return await ctx.client.request(method, "/api/users/me", headers=account.headers, **kwargs)


async def _taken_username(ctx: Ctx) -> httpx.Response:
    a, b = await ctx.player(), await ctx.player()
    return await ctx.client.patch("/api/users/me", headers=a.headers, json={"username": b.username.upper()})


async def _wrong_password(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    body = {"currentPassword": "not the password", "newPassword": "a brand new passphrase"}
    return await ctx.client.post("/api/users/me/password", headers=account.headers, json=body)


async def _off_the_board(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    # Deactivated, the board agreeing, and the revocation not (yet) in Redis: the token is still vouched for.
    await ctx.db.execute("UPDATE users SET is_active = false WHERE id = $1", account.id)
    await sync_members(ctx.app.state["board"], ctx.app.state["pool"], [account.id])
    return await ctx.client.get("/api/leaderboard/me", headers=account.headers)


async def _registrations(ctx: Ctx) -> httpx.Response:
    async with ctx.from_ip("10.0.0.9") as other:
        for n in range(REGISTRATIONS + 1):
            body = {"username": f"flood{n}", "email": f"flood{n}@example.com", "password": PASSWORD}
            response = await other.post("/api/auth/register", json=body)
            if response.status_code != 201:
                return response
    raise AssertionError("registrations were never throttled")


async def _failed_logins(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    for _ in range(20):
        response = await ctx.client.post("/api/auth/login", json={"login": account.username, "password": "wrong!!!!"})
        if response.status_code != 401:
            return response
    raise AssertionError("failed logins were never throttled")


async def _others_history(ctx: Ctx) -> httpx.Response:
    a, b = await ctx.player(), await ctx.player()
    return await ctx.client.get(f"/api/users/{b.id}/history", headers=a.headers)


async def _award(ctx: Ctx, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    account = await ctx.player()
    return await ctx.client.post("/api/scores", headers={**account.headers, **(headers or {})}, json=body)


async def _key_reused(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    headers = {**account.headers, "Idempotency-Key": "documented-1"}
    assert (await ctx.client.post("/api/scores", headers=headers, json={"actionId": ACTION})).status_code == 201
    return await ctx.client.post("/api/scores", headers=headers, json={"actionId": "achievement-unlock"})


async def _daily_cap(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    body = {"actionId": "daily-login"}
    assert (await ctx.client.post("/api/scores", headers=account.headers, json=body)).status_code == 201
    return await ctx.client.post("/api/scores", headers=account.headers, json=body)


async def _existing_action(ctx: Ctx) -> httpx.Response:
    body = {"id": ACTION, "name": "Again", "points": 1}
    return await ctx.client.post("/api/admin/actions", headers=ctx.boss.headers, json=body)


async def _taken_by_admin(ctx: Ctx) -> httpx.Response:
    account = await ctx.player()
    body = {"username": account.username, "email": "another@example.com", "password": PASSWORD}
    return await ctx.client.post("/api/admin/users", headers=ctx.boss.headers, json=body)


def _on_global(ctx: Ctx, method: str, tail: str) -> Awaitable[httpx.Response]:
    """An admin's call on the built-in board, which cannot change."""
    body = BODIES.get((method, f"/api/admin/boards/{{board_id}}{tail}"))
    return ctx.client.request(method, f"/api/admin/boards/global{tail}", headers=ctx.boss.headers, json=body)


def _on_unknown_board(ctx: Ctx, method: str, path: str) -> Awaitable[httpx.Response]:
    """A call on a board that does not exist, as an admin (whose role some of these need)."""
    return ctx.client.request(method, url(path), headers=ctx.boss.headers, json=BODIES.get((method, path)))


def _csv_refused(path: str) -> Provoke:
    return lambda ctx: ctx.client.get(path, headers={**ctx.boss.headers, "Accept": "image/png"})


# Each status an operation documents beyond the generic ones (credentials, bodies, stores, validation), provoked.
FAILURES: list[tuple[str, str, int, Provoke]] = [
    (
        "POST",
        "/api/auth/register",
        409,
        lambda c: c.client.post(
            "/api/auth/register",
            json={"username": c.boss.username, "email": "someone@example.com", "password": PASSWORD},
        ),
    ),
    ("POST", "/api/auth/register", 429, _registrations),
    (
        "POST",
        "/api/auth/login",
        401,
        lambda c: c.client.post("/api/auth/login", json=BODIES["POST", "/api/auth/login"]),
    ),
    ("POST", "/api/auth/login", 429, _failed_logins),
    ("POST", "/api/auth/refresh", 401, lambda c: c.client.post("/api/auth/refresh", json={"refreshToken": "sbr_x"})),
    ("POST", "/api/auth/logout", 403, lambda c: c.client.post("/api/auth/logout", headers={"X-API-Key": c.key["key"]})),
    ("GET", "/api/users/me", 404, lambda c: _gone(c, "GET")),
    ("PATCH", "/api/users/me", 404, lambda c: _gone(c, "PATCH", json={"metadata": {}})),
    ("DELETE", "/api/users/me", 404, lambda c: _gone(c, "DELETE")),
    ("PATCH", "/api/users/me", 409, _taken_username),
    ("POST", "/api/users/me/password", 403, _wrong_password),
    ("GET", "/api/users/{user_id}", 404, lambda c: c.client.get(f"/api/users/{uuid4()}")),
    ("GET", "/api/leaderboard/me", 404, _off_the_board),
    ("GET", "/api/users/{user_id}/rank", 404, lambda c: c.client.get(f"/api/users/{uuid4()}/rank")),
    ("GET", "/api/users/{user_id}/score", 404, lambda c: c.client.get(f"/api/users/{uuid4()}/score")),
    ("GET", "/api/leaderboard/around/{user_id}", 404, lambda c: c.client.get(f"/api/leaderboard/around/{uuid4()}")),
    ("GET", "/api/users/{user_id}/history", 403, _others_history),
    (
        "GET",
        "/api/users/{user_id}/history",
        404,
        lambda c: c.client.get(f"/api/users/{uuid4()}/history", headers=c.boss.headers),
    ),
    ("POST", "/api/admin/users", 409, _taken_by_admin),
    (
        "POST",
        "/api/admin/users/{user_id}/deactivate",
        404,
        lambda c: c.client.post(f"/api/admin/users/{uuid4()}/deactivate", headers=c.boss.headers),
    ),
    (
        "POST",
        "/api/admin/users/{user_id}/deactivate",
        409,
        lambda c: c.client.post(f"/api/admin/users/{c.boss.id}/deactivate", headers=c.boss.headers),
    ),
    (
        "POST",
        "/api/admin/users/{user_id}/reactivate",
        404,
        lambda c: c.client.post(f"/api/admin/users/{uuid4()}/reactivate", headers=c.boss.headers),
    ),
    ("POST", "/api/admin/actions", 409, _existing_action),
    (
        "PATCH",
        "/api/admin/actions/{action_id}",
        404,
        lambda c: c.client.patch("/api/admin/actions/no-such-action", headers=c.boss.headers, json={"points": 2}),
    ),
    (
        "POST",
        "/api/admin/actions/{action_id}/deactivate",
        404,
        lambda c: c.client.post("/api/admin/actions/no-such-action/deactivate", headers=c.boss.headers),
    ),
    (
        "DELETE",
        "/api/admin/api-keys/{key_id}",
        404,
        lambda c: c.client.delete(f"/api/admin/api-keys/{uuid4()}", headers=c.boss.headers),
    ),
    ("POST", "/api/scores", 400, lambda c: _award(c, {"actionId": ACTION}, {"Idempotency-Key": "k" * 256})),
    ("POST", "/api/scores", 403, lambda c: _award(c, {"actionId": "referral-signup"})),
    ("POST", "/api/scores", 404, lambda c: _award(c, {"actionId": "no-such-action"})),
    ("POST", "/api/scores", 409, _key_reused),
    ("POST", "/api/scores", 429, _daily_cap),
    *[
        ("GET", f"/api/admin/analytics/{name}", 406, _csv_refused(f"/api/admin/analytics/{name}"))
        for name in ("top-actions", "daily", "growth", "top-performers")
    ],
    *[
        (method, path, 404, lambda c, method=method, path=path: _on_unknown_board(c, method, path))
        for method, path in [
            ("GET", "/api/boards/{board_id}"),
            ("GET", "/api/boards/{board_id}/entries"),
            ("POST", "/api/boards/{board_id}/ranks"),
            ("GET", "/api/boards/{board_id}/me"),
            ("GET", "/api/boards/{board_id}/stream"),
            ("PATCH", "/api/admin/boards/{board_id}"),
            ("POST", "/api/admin/boards/{board_id}/deactivate"),
            ("POST", "/api/admin/boards/{board_id}/backfill"),
        ]
    ],
    (
        "GET",
        "/api/boards/{board_id}/around/{user_id}",
        404,
        lambda c: c.client.get(f"/api/boards/global/around/{uuid4()}"),
    ),
    (
        "POST",
        "/api/admin/boards",
        409,
        lambda c: c.client.post(
            "/api/admin/boards", headers=c.boss.headers, json={"id": "global", "name": "Again", "period": "daily"}
        ),
    ),
    ("PATCH", "/api/admin/boards/{board_id}", 409, lambda c: _on_global(c, "PATCH", "")),
    ("POST", "/api/admin/boards/{board_id}/deactivate", 409, lambda c: _on_global(c, "POST", "/deactivate")),
    ("POST", "/api/admin/boards/{board_id}/backfill", 409, lambda c: _on_global(c, "POST", "/backfill")),
]
# Provoked where the conditions are easier to build than here.
ELSEWHERE = {
    ("GET", "/api/leaderboard/stream", 429): "tests/live/test_stream.py::test_one_address_cannot_take_every_slot",
    ("GET", "/api/boards/{board_id}/stream", 429): (
        "tests/live/test_board_streams.py::test_stream_caps_count_board_streams_too"
    ),
    ("GET", "/readyz", 503): "test_with_the_stores_down_every_operation_that_uses_them_is_a_503",
    ("GET", "/api/leaderboard", 304): "tests/leaderboard/test_tops.py::test_an_unchanged_top_is_a_304_until_...",
    ("GET", "/api/boards/{board_id}/entries", 304): "tests/leaderboard/test_tops.py::test_a_period_board_top_has_...",
    ("POST", "/api/boards/{board_id}/results", 404): "tests/results/test_router.py::test_unknown_board_or_player_...",
    ("POST", "/api/boards/{board_id}/results", 409): "tests/results/test_router.py::test_a_points_board_takes_no_...",
    ("POST", "/api/boards/{board_id}/results", 429): "tests/results/test_router.py::test_each_api_key_is_rate_...",
    ("GET", "/api/admin/boards/{board_id}/results", 404): "tests/results/test_moderation.py::test_unknown_...",
    ("POST", "/api/admin/results/{submission_id}/remove", 404): "tests/results/test_moderation.py::test_unknown_...",
    ("POST", "/api/admin/results/{submission_id}/remove", 409): "tests/results/test_moderation.py::test_removing_...",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with room for the accounts these tests register."""
    return settings.model_copy(update={"register_max_per_ip": REGISTRATIONS})


@pytest.fixture
async def ctx(app: Running, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis) -> Ctx:
    """A context with an admin and an API key."""
    boss = await admin(client, db)
    key = await client.post("/api/admin/api-keys", headers=boss.headers, json=BODIES["POST", "/api/admin/api-keys"])
    return Ctx(app, client, db, redis, boss, key.json())


async def test_each_documented_failure_is_what_the_operation_answers(ctx: Ctx) -> None:
    """Provoke each route's own failures; the client fixture also fails the test on any status not documented."""
    wrong = []
    for method, path, status, provoke in FAILURES:
        response = await provoke(ctx)
        if response.status_code != status or response.headers["content-type"] != "application/problem+json":
            wrong.append(f"{method} {path}: expected {status}, got {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_every_status_a_route_documents_is_provoked(client: httpx.AsyncClient) -> None:
    """Beyond the generic answers, every documented status of every operation is in FAILURES (or ELSEWHERE)."""
    provoked = {(method, path, str(status)) for method, path, status, _ in FAILURES}
    provoked |= {(method, path, str(status)) for method, path, status in ELSEWHERE}
    missing = []
    for method, path, operation in operations(client_spec := (await client.get("/openapi.json")).json()):
        generic = {"422", *WITH_STORES}
        generic |= set(SECURED) if operation.get("security") else set()
        generic |= set(WITH_BODY) if "requestBody" in operation else set()
        for code in operation["responses"]:
            if code[0] != "2" and code not in generic and (method, path, code) not in provoked:
                missing.append(f"{method} {path} {code}")
    assert client_spec["paths"]
    assert not missing, "documented but never provoked:\n" + "\n".join(missing)


async def test_every_body_is_either_json_or_the_same_422_and_never_too_large(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings
) -> None:
    """Any operation with a body: unreadable JSON is a 422 `json_invalid`, an oversized body a documented 413."""
    boss = await admin(client, db)
    spec = (await client.get("/openapi.json")).json()
    body_operations = {(m, p) for m, p, op in operations(spec) if "requestBody" in op}
    assert body_operations == set(BODIES)  # a new body operation needs a valid body above
    headers = {**boss.headers, "content-type": "application/json"}
    for method, path in sorted(body_operations):
        for unreadable in (b"{not json", b'{"a": "\xff"}', b"[" * 5000):
            response = await client.request(method, url(path), headers=headers, content=unreadable)
            body = assert_problem(response, 422)
            assert [e["type"] for e in body["errors"]] == ["json_invalid"], (method, path, unreadable[:10])
        response = await client.request(
            method, url(path), headers=headers, content=b" " * (settings.max_body_bytes + 1)
        )
        assert_problem(response, 413)
        assert "413" in spec["paths"][path][method.lower()]["responses"]


@asynccontextmanager
async def guarded(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Documented]]:
    """Another app on `settings`, with a client held to its document."""
    async with running(settings) as app:
        documented = Documented(app, app.app)
        transport = httpx.ASGITransport(app=documented, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, documented


async def test_with_the_stores_down_every_operation_that_uses_them_is_a_503(
    client: httpx.AsyncClient, app: Running, db: asyncpg.Connection, settings: Settings
) -> None:
    """PostgreSQL and Redis unreachable: each operation that reaches them says 503 (as documented); the rest do not."""
    boss = await admin(client, db)
    spec = (await client.get("/openapi.json")).json()
    down = settings.model_copy(
        update={
            "database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/x",
            "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        }
    )
    wrong = []
    async with guarded(down) as (http, documented):
        for method, path, operation in operations(spec):
            response = await http.request(
                method,
                url(path),
                headers=boss.headers,
                json=BODIES.get((method, path)),
                params=QUERIES.get((method, path)),
            )
            expected = 503 if "503" in operation["responses"] else 200
            if response.status_code != expected:
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert not documented.undocumented, undocumented_report(documented.undocumented)


async def test_the_schema_states_the_rules_the_server_enforces(client: httpx.AsyncClient) -> None:
    """Username and e-mail patterns accept what registration accepts; the cursor's is the one the server checks."""
    spec = (await client.get("/openapi.json")).json()
    fields = spec["components"]["schemas"]["RegisterRequest"]["properties"]
    username, email = re.compile(fields["username"]["pattern"]), re.compile(fields["email"]["pattern"])
    names = ["abc", "ab", "a" * 32, "a" * 33, "dot.dash-under_9", "space here", "ünï", "semi;colon", "x/y"]
    for n, name in enumerate(names):
        body = {"username": name, "email": f"rule{n}@example.com", "password": PASSWORD}
        status = (await client.post("/api/auth/register", json=body)).status_code
        assert (status == 201) == bool(username.search(name)), (name, status)
    addresses = ["a@b.co", "A.B+c@d-e.example.org", "no-at.example.com", "a@b", "a@b.c", "a b@c.de", "a@b.c0m"]
    for n, address in enumerate(addresses):
        body = {"username": f"mail{n}", "email": address, "password": PASSWORD}
        status = (await client.post("/api/auth/register", json=body)).status_code
        assert (status == 201) == bool(email.search(address)), (address, status)
    for path in ("/api/users/me/history", "/api/admin/rate-limit-violations"):
        cursor = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "cursor")
        assert {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"} in cursor["schema"]["anyOf"]


async def test_a_range_says_min_is_at_most_max_and_refuses_the_reverse(client: httpx.AsyncClient) -> None:
    """JSON Schema cannot relate two parameters: the description says it, and the 422 names `min`."""
    spec = (await client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/leaderboard/range"]["get"]["parameters"]}
    assert "at most `max`" in parameters["min"]["description"]
    assert "at least `min`" in parameters["max"]["description"]
    body = assert_problem(await client.get("/api/leaderboard/range", params={"min": 10, "max": 5}), 422)
    assert [e["loc"] for e in body["errors"]] == [["query", "min"]]
    assert (await client.get("/api/leaderboard/range", params={"min": 5, "max": 5})).status_code == 200
