"""Authorization matrix for every /api endpoint (OWASP API1 BOLA, API5 broken function-level authorization)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from tests.fixtures.accounts import PASSWORD, Account, admin, login, player, register
from tests.fixtures.apps import Running
from tests.fixtures.boards import add_board
from tests.fixtures.problems import assert_problem

PUBLIC, ANY_CALLER, USER, ADMIN = "public", "any-caller", "user", "admin"
TRUSTED = "trusted"  # trusted game servers only: an API key with results:write

# Every /api route and who may call it. A new route missing here fails test_every_api_route_is_classified,
# so nobody can ship an endpoint without deciding its access class.
ACCESS: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("GET", "/api/users/{user_id}"): PUBLIC,
    ("GET", "/api/auth/whoami"): ANY_CALLER,
    ("POST", "/api/auth/logout"): USER,
    ("GET", "/api/users/me"): USER,
    ("PATCH", "/api/users/me"): USER,
    ("DELETE", "/api/users/me"): USER,
    ("POST", "/api/users/me/password"): USER,
    ("GET", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/deactivate"): ADMIN,
    ("POST", "/api/admin/users/{user_id}/reactivate"): ADMIN,
    ("GET", "/api/admin/api-keys"): ADMIN,
    ("POST", "/api/admin/api-keys"): ADMIN,
    ("DELETE", "/api/admin/api-keys/{key_id}"): ADMIN,
    ("GET", "/api/actions"): PUBLIC,
    ("GET", "/api/leaderboard"): PUBLIC,
    ("GET", "/api/leaderboard/around/{user_id}"): PUBLIC,
    ("GET", "/api/leaderboard/range"): PUBLIC,
    ("POST", "/api/leaderboard/ranks"): PUBLIC,
    ("GET", "/api/users/{user_id}/rank"): PUBLIC,
    ("GET", "/api/users/{user_id}/score"): PUBLIC,
    ("POST", "/api/users/scores"): PUBLIC,
    ("GET", "/api/leaderboard/me"): USER,
    ("GET", "/api/leaderboard/stream"): PUBLIC,
    ("POST", "/api/leaderboard/stream-ticket"): USER,
    ("POST", "/api/scores"): ANY_CALLER,
    ("GET", "/api/admin/actions"): ADMIN,
    ("POST", "/api/admin/actions"): ADMIN,
    ("PATCH", "/api/admin/actions/{action_id}"): ADMIN,
    ("POST", "/api/admin/actions/{action_id}/deactivate"): ADMIN,
    ("GET", "/api/users/me/history"): USER,
    ("GET", "/api/users/me/stats"): USER,
    # Admins read anyone's history; a player only their own (tests/history), never the victim's here.
    ("GET", "/api/users/{user_id}/history"): ADMIN,
    ("GET", "/api/admin/rate-limit-violations"): ADMIN,
    ("GET", "/api/admin/analytics/top-actions"): ADMIN,
    ("GET", "/api/admin/analytics/daily"): ADMIN,
    ("GET", "/api/admin/analytics/growth"): ADMIN,
    ("GET", "/api/admin/analytics/top-performers"): ADMIN,
    ("GET", "/api/admin/integrity"): ADMIN,
    ("GET", "/api/boards"): PUBLIC,
    ("GET", "/api/boards/{board_id}"): PUBLIC,
    ("GET", "/api/boards/{board_id}/entries"): PUBLIC,
    ("GET", "/api/boards/{board_id}/around/{user_id}"): PUBLIC,
    ("POST", "/api/boards/{board_id}/ranks"): PUBLIC,
    ("GET", "/api/boards/{board_id}/me"): USER,
    ("GET", "/api/boards/{board_id}/stream"): PUBLIC,
    ("GET", "/api/admin/boards"): ADMIN,
    ("POST", "/api/admin/boards"): ADMIN,
    ("PATCH", "/api/admin/boards/{board_id}"): ADMIN,
    ("POST", "/api/admin/boards/{board_id}/deactivate"): ADMIN,
    ("POST", "/api/admin/boards/{board_id}/backfill"): ADMIN,
    ("POST", "/api/boards/{board_id}/results"): TRUSTED,
    ("GET", "/api/admin/boards/{board_id}/results"): ADMIN,
    ("POST", "/api/admin/results/{submission_id}/remove"): ADMIN,
}
# WebSocket routes (live streams: public; a token or ticket only adds my_rank, tested in tests/live).
WEBSOCKETS = {"/api/leaderboard/ws": PUBLIC, "/api/boards/{board_id}/ws": PUBLIC}
KEY_BODY = {"name": "game server", "scopes": ["scores:write", "results:write"]}
TARGET_PLACEHOLDER = "victim"
ACTION = "complete-quest"
# Boards in URLs: players read the built-in board (where every player has a rank); admins change one made for the
# test (`global` cannot change).
READ_BOARD, ADMIN_BOARD, RESULT_BOARD = "global", "matrix-board", "matrix-results"
# Valid bodies, so a refusal can only come from authorization and a success proves the route works.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/users/me"): {"metadata": {"team": "red"}},
    ("POST", "/api/users/me/password"): {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"},
    ("POST", "/api/admin/api-keys"): KEY_BODY,
    ("POST", "/api/admin/users"): {"username": "provisioned", "email": "provisioned@example.com", "password": PASSWORD},
    ("POST", "/api/scores"): {"actionId": "complete-quest"},
    ("POST", "/api/admin/actions"): {"id": "matrix-action", "name": "Matrix", "points": 3},
    ("PATCH", "/api/admin/actions/{action_id}"): {"points": 11},
    ("POST", "/api/admin/boards"): {"id": "matrix-new-board", "name": "Matrix", "period": "weekly"},
    ("PATCH", "/api/admin/boards/{board_id}"): {"name": "Renamed"},
    ("POST", "/api/boards/{board_id}/results"): {"userId": str(uuid4()), "value": 7},
    ("POST", "/api/admin/results/{submission_id}/remove"): {"reason": "matrix"},
}
# Trusted servers name the user they award; players never may.
BODY_FOR_KEYS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/scores"): {"actionId": "complete-quest", "userId": TARGET_PLACEHOLDER},
    ("POST", "/api/boards/{board_id}/results"): {"userId": TARGET_PLACEHOLDER, "value": 7},
}
# What each kind of caller gets on each protected class: 2xx, or the refusal status.
EXPECTED = {
    ANY_CALLER: {"api_key": 200, "player": 200, "admin": 200},
    USER: {"api_key": 403, "player": 200, "admin": 200},
    ADMIN: {"api_key": 403, "player": 403, "admin": 200},
    TRUSTED: {"api_key": 201, "player": 403, "admin": 403},
}
PROTECTED = [pytest.param(route, access, id=" ".join(route)) for route, access in ACCESS.items() if access != PUBLIC]
NO_CREDENTIALS = [
    {},
    {"Authorization": "Bearer not-a-jwt"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"X-API-Key": "sbk_not-a-real-key"},
]
TARGET = object()  # replaced by the victim's id at run time
# Fields a client must never set through a body: identity, role, score, status, verification, hashes.
SMUGGLED = [
    {"id": TARGET},
    {"userId": TARGET},
    {"user_id": TARGET},
    {"role": "admin"},
    {"currentScore": 999},
    {"current_score": 999},
    {"score": 999},
    {"isActive": False},
    {"is_active": False},
    {"email_verified": True},
    {"emailVerified": True},
    {"passwordHash": "$2b$04$" + "a" * 53},
]


def url_of(path: str, user_id: UUID, key_id: Any, submission_id: int = 1) -> str:
    """A route's path with its parameters filled in."""
    board = ADMIN_BOARD if path.startswith("/api/admin/boards") else READ_BOARD
    board = RESULT_BOARD if path.endswith("/results") else board
    return path.format(user_id=user_id, key_id=key_id, action_id=ACTION, board_id=board, submission_id=submission_id)


def assert_unauthorized(response: httpx.Response) -> None:
    """Assert a 401 problem that tells the client how to authenticate."""
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def key_headers(key: dict[str, Any]) -> dict[str, str]:
    """Return the X-API-Key header for a created key."""
    return {"X-API-Key": key["key"]}


async def users_table(db: asyncpg.Connection) -> list[dict[str, Any]]:
    """Snapshot every user's security-relevant columns."""
    rows = await db.fetch(
        "SELECT id, username, email, password_hash, role, current_score, is_active, metadata, updated_at"
        " FROM users ORDER BY id"
    )
    return [dict(row) for row in rows]


async def is_active(db: asyncpg.Connection, user_id: UUID) -> bool:
    """Read a user's is_active straight from the database."""
    return bool(await db.fetchval("SELECT is_active FROM users WHERE id = $1", user_id))


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """Return a logged-in admin."""
    return await admin(client, db)


@pytest.fixture
async def api_key(client: httpx.AsyncClient, boss: Account) -> dict[str, Any]:
    """Create an API key as the admin and return the creation response (secret included)."""
    response = await client.post("/api/admin/api-keys", json=KEY_BODY, headers=boss.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_every_api_route_is_classified(app: Running) -> None:
    """Keep the access table equal to the app's /api routes."""
    # Since FastAPI 0.137 app.routes holds lazy _IncludedRouter wrappers, so a plain scan finds no APIRoute;
    # iter_route_contexts is the public way to see every endpoint with its full, prefixed path.
    # path_format: the path as documented, without a convertor (`/api/users/{user_id:id}` is `/api/users/{user_id}`).
    contexts = [c for c in iter_route_contexts(app.app.routes) if (c.path or "").startswith("/api")]
    routes = {(m, c.path_format) for c in contexts if isinstance(c.original_route, APIRoute) for m in c.methods or ()}
    assert routes == set(ACCESS)
    # Mounts or plain Starlette routes under /api would escape the table above; WebSockets have their own.
    sockets = [c.path_format for c in contexts if isinstance(c.original_route, APIWebSocketRoute)]
    assert sockets == list(WEBSOCKETS)
    assert [c.path for c in contexts if not isinstance(c.original_route, APIRoute | APIWebSocketRoute)] == []
    assert all(access == ADMIN for (_, path), access in ACCESS.items() if path.startswith("/api/admin"))


@pytest.mark.parametrize(("route", "access"), PROTECTED)
async def test_protected_route_refuses_missing_or_bad_credentials(
    client: httpx.AsyncClient, route: tuple[str, str], access: str
) -> None:
    """Answer 401 with WWW-Authenticate without valid credentials."""
    method, path = route
    url = url_of(path, uuid4(), uuid4())
    for headers in NO_CREDENTIALS:
        assert_unauthorized(await client.request(method, url, json=BODIES.get(route), headers=headers))


@pytest.mark.parametrize(("route", "access"), PROTECTED)
async def test_protected_route_serves_only_its_class(
    client: httpx.AsyncClient,
    boss: Account,
    api_key: dict[str, Any],
    route: tuple[str, str],
    access: str,
) -> None:
    """Refuse API keys and players where the class says so; serve the others with a 2xx."""
    method, path = route
    victim = await register(client)
    submission = 1
    if "{board_id}" in path or "{submission_id}" in path:
        await add_board(client, boss, ADMIN_BOARD, "daily")
        await add_board(client, boss, RESULT_BOARD, "daily", kind="result")
    if "{submission_id}" in path:
        body = {"userId": str(victim.id), "value": 3}
        made = await client.post(f"/api/boards/{RESULT_BOARD}/results", json=body, headers=key_headers(api_key))
        submission = made.json()["submissionId"]
    url = url_of(path, victim.id, api_key["id"], submission)
    callers = {"api_key": key_headers(api_key), "player": (await player(client)).headers, "admin": boss.headers}
    # The admin goes last: its success (revoking the very key, deactivating) must not turn a 403 above into a 401.
    for who, headers in callers.items():
        body = BODIES.get(route)
        if who == "api_key" and route in BODY_FOR_KEYS:
            body = {k: str(victim.id) if v == TARGET_PLACEHOLDER else v for k, v in BODY_FOR_KEYS[route].items()}
        response = await client.request(method, url, json=body, headers=headers)
        if EXPECTED[access][who] == 403:
            assert_problem(response, 403)
        else:
            assert 200 <= response.status_code < 300, f"{who}: {response.status_code} {response.text}"


@pytest.mark.parametrize(("route", "access"), PROTECTED)
async def test_bearer_and_api_key_together_is_a_bad_request(
    client: httpx.AsyncClient,
    boss: Account,
    api_key: dict[str, Any],
    route: tuple[str, str],
    access: str,
) -> None:
    """Refuse ambiguous credentials with a 400 instead of picking one."""
    method, path = route
    url = url_of(path, boss.id, api_key["id"])
    headers = {**boss.headers, **key_headers(api_key)}
    assert_problem(await client.request(method, url, json=BODIES.get(route), headers=headers), 400)


async def test_public_profile_shows_no_private_fields(client: httpx.AsyncClient) -> None:
    """Show another player only id, username, score, rank and join date."""
    a, b = await player(client), await player(client)
    for headers in (a.headers, {}):
        response = await client.get(f"/api/users/{b.id}", headers=headers)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"id", "username", "score", "rank", "createdAt"}
        assert response.json()["id"] == str(b.id)
        assert b.email not in response.text


async def test_no_route_writes_another_users_id(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Answer 405 to writes on /api/users/{id}: only /me changes an account."""
    a, b = await player(client), await player(client)
    before = await users_table(db)
    for method in ("PATCH", "PUT", "POST", "DELETE"):
        response = await client.request(method, f"/api/users/{b.id}", json={"username": "hijacked"}, headers=a.headers)
        assert_problem(response, 405)
    assert await users_table(db) == before


async def test_patch_me_changes_only_the_caller(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Apply A's PATCH /me to A and leave B's row untouched."""
    a, b = await player(client), await player(client)
    b_before = [row for row in await users_table(db) if row["id"] == b.id]
    response = await client.patch(
        "/api/users/me", json={"username": "renamed", "metadata": {"x": 1}}, headers=a.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(a.id)
    after = await users_table(db)
    assert [row for row in after if row["id"] == b.id] == b_before
    assert next(row for row in after if row["id"] == a.id)["username"] == "renamed"


@pytest.mark.parametrize("smuggled", SMUGGLED, ids=lambda extra: next(iter(extra)))
async def test_patch_me_refuses_smuggled_fields(
    client: httpx.AsyncClient, db: asyncpg.Connection, smuggled: dict[str, Any]
) -> None:
    """Refuse a PATCH /me carrying a non-whitelisted field, and change nothing at all."""
    a, b = await player(client), await player(client)
    extra = {k: str(b.id) if v is TARGET else v for k, v in smuggled.items()}
    before = await users_table(db)
    # A legitimate field rides along: if the extra were silently dropped, the username would change.
    response = await client.patch("/api/users/me", json={"username": "sneaky", **extra}, headers=a.headers)
    assert_problem(response, 422)
    assert await users_table(db) == before


@pytest.mark.parametrize("smuggled", SMUGGLED, ids=lambda extra: next(iter(extra)))
async def test_register_refuses_smuggled_fields(
    client: httpx.AsyncClient, db: asyncpg.Connection, smuggled: dict[str, Any]
) -> None:
    """Refuse a registration carrying a non-whitelisted field, and create nothing."""
    b = await register(client)
    extra = {k: str(b.id) if v is TARGET else v for k, v in smuggled.items()}
    before = await users_table(db)
    body = {"username": "smuggler", "email": "smuggler@example.com", "password": PASSWORD, **extra}
    assert_problem(await client.post("/api/auth/register", json=body), 422)
    assert await users_table(db) == before


async def test_delete_me_deactivates_only_the_caller(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Deactivate A on DELETE /me; B stays active and logged in."""
    a, b = await player(client), await player(client)
    assert (await client.delete("/api/users/me", headers=a.headers)).status_code == 204
    assert not await is_active(db, a.id)
    assert await is_active(db, b.id)
    assert (await client.get("/api/users/me", headers=b.headers)).status_code == 200
    assert_unauthorized(await client.get("/api/users/me", headers=a.headers))


async def test_logout_ends_only_the_callers_session(client: httpx.AsyncClient) -> None:
    """Keep B's access and refresh tokens working after A logs out."""
    a, b = await player(client), await player(client)
    assert (await client.post("/api/auth/logout", headers=a.headers)).status_code == 204
    assert_unauthorized(await client.get("/api/auth/whoami", headers=a.headers))
    whoami = await client.get("/api/auth/whoami", headers=b.headers)
    assert whoami.status_code == 200
    assert whoami.json()["userId"] == str(b.id)
    assert (await client.post("/api/auth/refresh", json={"refreshToken": b.refresh_token})).status_code == 200


async def test_player_cannot_deactivate_another_player(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Refuse a player's admin call on B with 403; B stays active and logged in."""
    a, b = await player(client), await player(client)
    assert_problem(await client.post(f"/api/admin/users/{b.id}/deactivate", headers=a.headers), 403)
    assert await is_active(db, b.id)
    assert (await client.get("/api/users/me", headers=b.headers)).status_code == 200


async def test_admin_lists_and_searches_users(client: httpx.AsyncClient, boss: Account) -> None:
    """Page through users and filter them by part of a username or e-mail."""
    await register(client, username="zebra_one")
    await register(client, username="zebra_two")
    await register(client, username="okapi")
    everyone = await client.get("/api/admin/users", headers=boss.headers)
    assert everyone.status_code == 200, everyone.text
    assert everyone.json()["total"] == 4
    # Admins see the private view: e-mail and role.
    assert {"email", "role", "isActive"} <= set(everyone.json()["items"][0])
    zebras = (await client.get("/api/admin/users", params={"q": "ZEBRA"}, headers=boss.headers)).json()
    assert zebras["total"] == 2
    assert {item["username"] for item in zebras["items"]} == {"zebra_one", "zebra_two"}
    # LIKE wildcards in q are literal characters, not "match everything".
    assert (await client.get("/api/admin/users", params={"q": "%"}, headers=boss.headers)).json()["total"] == 0
    page = (await client.get("/api/admin/users", params={"limit": 1, "offset": 1}, headers=boss.headers)).json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 4, 1, 1)
    beyond = (await client.get("/api/admin/users", params={"offset": 10}, headers=boss.headers)).json()
    assert (beyond["items"], beyond["total"]) == ([], 4)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"q": "x" * 256}])
async def test_admin_user_list_bounds(client: httpx.AsyncClient, boss: Account, params: dict[str, Any]) -> None:
    """Refuse out-of-range paging and oversized queries with 422."""
    assert_problem(await client.get("/api/admin/users", params=params, headers=boss.headers), 422)


async def test_admin_deactivates_and_reactivates_a_user(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account
) -> None:
    """Lock a deactivated user out completely, then let them back in after reactivation."""
    b = await player(client)
    response = await client.post(f"/api/admin/users/{b.id}/deactivate", headers=boss.headers)
    assert response.status_code == 200, response.text
    assert response.json()["isActive"] is False
    assert not await is_active(db, b.id)
    assert_unauthorized(await client.post("/api/auth/login", json={"login": b.username, "password": b.password}))
    assert_unauthorized(await client.get("/api/users/me", headers=b.headers))
    assert_unauthorized(await client.post("/api/auth/refresh", json={"refreshToken": b.refresh_token}))
    assert_problem(await client.get(f"/api/users/{b.id}"), 404)

    response = await client.post(f"/api/admin/users/{b.id}/reactivate", headers=boss.headers)
    assert response.status_code == 200, response.text
    assert response.json()["isActive"] is True
    old_headers = b.headers
    await login(client, b)
    assert (await client.get("/api/users/me", headers=b.headers)).status_code == 200
    # Reactivation does not resurrect the sessions that deactivation ended.
    assert_unauthorized(await client.get("/api/users/me", headers=old_headers))


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
async def test_admin_action_on_unknown_user_is_404(client: httpx.AsyncClient, boss: Account, action: str) -> None:
    """Answer 404 for a user id that does not exist."""
    assert_problem(await client.post(f"/api/admin/users/{uuid4()}/{action}", headers=boss.headers), 404)


async def test_api_key_lifecycle(client: httpx.AsyncClient, boss: Account, api_key: dict[str, Any]) -> None:
    """Show the secret once, never list it, and refuse it with 401 once revoked."""
    assert api_key["key"].startswith("sbk_")
    assert api_key["prefix"] == api_key["key"][:12]
    assert api_key["scopes"] == sorted(KEY_BODY["scopes"])
    assert api_key["createdBy"] == str(boss.id)
    listing = await client.get("/api/admin/api-keys", headers=boss.headers)
    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()] == [api_key["id"]]
    assert all("key" not in item for item in listing.json())
    assert api_key["key"] not in listing.text
    whoami = await client.get("/api/auth/whoami", headers=key_headers(api_key))
    assert whoami.status_code == 200
    expected = {
        "kind": "api_key",
        "userId": None,
        "role": None,
        "apiKeyId": api_key["id"],
        "scopes": sorted(KEY_BODY["scopes"]),
    }
    assert whoami.json() == expected

    assert (await client.delete(f"/api/admin/api-keys/{api_key['id']}", headers=boss.headers)).status_code == 204
    assert_unauthorized(await client.get("/api/auth/whoami", headers=key_headers(api_key)))
    listing = await client.get("/api/admin/api-keys", headers=boss.headers)
    assert listing.json()[0]["revokedAt"] is not None


async def test_revoking_an_unknown_api_key_is_404(client: httpx.AsyncClient, boss: Account) -> None:
    """Answer 404 for a key id that does not exist, and 422 for one that is not a UUID."""
    assert_problem(await client.delete(f"/api/admin/api-keys/{uuid4()}", headers=boss.headers), 404)
    assert_problem(await client.delete("/api/admin/api-keys/not-a-uuid", headers=boss.headers), 422)


@pytest.mark.parametrize("value", [12345678, True, ["provisioned"], None])
@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_admin_created_accounts_take_only_strings(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account, field: str, value: Any
) -> None:
    """Refuse a provisioning body whose fields are not strings, and create nobody."""
    body = {**BODIES[("POST", "/api/admin/users")], field: value}
    before = await users_table(db)
    assert_problem(await client.post("/api/admin/users", json=body, headers=boss.headers), 422)
    assert await users_table(db) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "server"}, id="no-scopes"),
        pytest.param({"name": "server", "scopes": []}, id="empty-scopes"),
        pytest.param({"name": "server", "scopes": ["admin:all"]}, id="unknown-scope"),
        pytest.param({"name": "", "scopes": ["scores:write"]}, id="empty-name"),
        pytest.param({"name": "   ", "scopes": ["scores:write"]}, id="blank-name"),
        pytest.param({"name": "s" * 101, "scopes": ["scores:write"]}, id="long-name"),
        pytest.param({**KEY_BODY, "key": "sbk_chosen-by-client"}, id="extra-key"),
        pytest.param({**KEY_BODY, "createdBy": str(uuid4())}, id="extra-createdBy"),
        pytest.param({"name": 7, "scopes": ["scores:write"]}, id="number-name"),
        pytest.param({"name": "server", "scopes": "scores:write"}, id="scope-not-a-list"),
        pytest.param({"name": "server", "scopes": [True]}, id="boolean-scope"),
    ],
)
async def test_bad_api_key_bodies_are_422(
    client: httpx.AsyncClient, db: asyncpg.Connection, boss: Account, body: dict[str, Any]
) -> None:
    """Refuse malformed key requests and store nothing."""
    assert_problem(await client.post("/api/admin/api-keys", json=body, headers=boss.headers), 422)
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 0
