"""Register, log in, refresh, log out and change password through the real API."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from scoreboard.embedded.process import free_port
from tests.fixtures.accounts import PASSWORD, Account, admin, login, player, register
from tests.fixtures.instances import instance


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    """Assert `response` is a problem document with `status` and return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


async def test_register_returns_the_account_without_secrets(client: httpx.AsyncClient) -> None:
    """201 with the account; the e-mail is normalised to lower case; no hash anywhere."""
    response = await client.post(
        "/api/auth/register", json={"username": "Alice_1", "email": "Alice@Example.COM", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["username"], body["email"], body["role"], body["score"]) == (
        "Alice_1",
        "alice@example.com",
        "player",
        0,
    )
    assert "password" not in response.text.lower()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "ab"),
        ("username", "x" * 33),
        ("username", "bad name"),
        ("username", "émile"),
        ("username", "semi;colon"),
        ("email", "no-at-sign"),
        ("email", "a@b"),
        ("email", "a@b.c"),
        ("email", "a b@example.com"),
        ("email", "x" * 250 + "@example.com"),
        ("password", "short7!"),
        ("password", "x" * 73),
        ("password", "é" * 37),  # 37 characters, 74 bytes: bcrypt would silently drop two
        ("password", "nul\x00in the middle"),
    ],
)
async def test_register_rejects_invalid_fields(client: httpx.AsyncClient, field: str, value: str) -> None:
    """Each account rule is a 422 naming the field, before anything reaches the database."""
    body = {"username": "validname", "email": "valid@example.com", "password": PASSWORD, field: value}
    errors = problem(await client.post("/api/auth/register", json=body), 422)["errors"]
    assert [e["loc"][-1] for e in errors] == [field]  # type: ignore[index,union-attr]


async def test_register_accepts_the_boundaries(client: httpx.AsyncClient) -> None:
    """3 and 32 character names and exactly 72 bytes of password are fine, and that password logs in."""
    for name, password in (("abc", "é" * 36), ("y" * 32, "p" * 72)):
        account = await register(client, username=name, password=password)
        await login(client, account)


async def test_register_rejects_unknown_fields(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """No mass assignment: role, score or activity in the body is a 422 and nothing is created."""
    body = {"username": "sneaky", "email": "s@example.com", "password": PASSWORD, "role": "admin"}
    problem(await client.post("/api/auth/register", json=body), 422)
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_taken_username_or_email_is_409_regardless_of_case(client: httpx.AsyncClient) -> None:
    """Names and addresses are unique without regard to case."""
    await register(client, username="Bob")
    taken_name = {"username": "bob", "email": "other@example.com", "password": PASSWORD}
    assert problem(await client.post("/api/auth/register", json=taken_name), 409)["field"] == "username"
    taken_mail = {"username": "bobby", "email": "BOB@example.com", "password": PASSWORD}
    assert problem(await client.post("/api/auth/register", json=taken_mail), 409)["field"] == "email"


async def test_registration_race_gives_one_201_and_the_rest_409(client: httpx.AsyncClient) -> None:
    """Concurrent registrations of one name: the unique index picks one winner, never a 500."""
    bodies = [{"username": "racer", "email": f"r{i}@example.com", "password": PASSWORD} for i in range(8)]
    responses = await asyncio.gather(*(client.post("/api/auth/register", json=b) for b in bodies))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7


async def test_login_by_username_or_email_in_any_case(client: httpx.AsyncClient) -> None:
    """Either login works, case-insensitively, and gives a bearer pair."""
    account = await register(client, username="Carol")
    for login_name in ("carol", "CAROL@EXAMPLE.COM"):
        response = await client.post("/api/auth/login", json={"login": login_name, "password": account.password})
        body = response.json()
        assert response.status_code == 200
        assert (body["tokenType"], body["expiresIn"]) == ("Bearer", 900)
        assert body["refreshToken"].startswith("sbr_")


async def test_unknown_user_and_wrong_password_look_the_same(settings: Settings) -> None:
    """Same status, same body, and about the same time (a dummy hash is checked for unknown users)."""
    slow = settings.model_copy(update={"bcrypt_rounds": 10})
    async with instance(slow) as http:
        await register(http, username="dave")

        async def attempt(name: str) -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await http.post("/api/auth/login", json={"login": name, "password": "wrong password"})
            return response, time.perf_counter() - started

        wrong = [await attempt("dave") for _ in range(4)]
        unknown = [await attempt(f"nobody{i}") for i in range(4)]
    assert {r.status_code for r, _ in wrong + unknown} == {401}
    assert {r.text.replace("dave", "") for r, _ in wrong} == {r.text for r, _ in unknown}
    ratio = statistics.median(t for _, t in unknown) / statistics.median(t for _, t in wrong)
    assert 0.5 < ratio < 2.0


async def test_failed_logins_are_throttled_per_account(settings: Settings) -> None:
    """After N failures for one account even the right password gets 429 with Retry-After."""
    strict = settings.model_copy(update={"login_max_failures_per_account": 3})
    async with instance(strict) as http:
        account = await register(http, username="erin")
        for _ in range(3):
            await http.post("/api/auth/login", json={"login": "erin", "password": "wrong password"})
        response = await http.post("/api/auth/login", json={"login": "ERIN", "password": account.password})
        problem(response, 429)
        assert 1 <= int(response.headers["retry-after"]) <= strict.login_window_seconds
        other = await register(http, username="frank")
        await login(http, other)  # other accounts are unaffected


async def test_success_resets_the_account_throttle(settings: Settings) -> None:
    """A successful login forgets earlier failures of that account."""
    strict = settings.model_copy(update={"login_max_failures_per_account": 3})
    async with instance(strict) as http:
        account = await register(http, username="gina")
        for _ in range(2):
            await http.post("/api/auth/login", json={"login": "gina", "password": "wrong password"})
        await login(http, account)
        for _ in range(2):
            await http.post("/api/auth/login", json={"login": "gina", "password": "wrong password"})
        await login(http, account)


async def test_failed_logins_are_throttled_per_ip(settings: Settings) -> None:
    """Spraying many accounts from one address hits the per-IP limit."""
    strict = settings.model_copy(update={"login_max_failures_per_ip": 4})
    async with instance(strict) as http:
        for i in range(4):
            await http.post("/api/auth/login", json={"login": f"spray{i}", "password": "wrong password"})
        problem(await http.post("/api/auth/login", json={"login": "spray9", "password": "x"}), 429)


async def test_registration_is_throttled_per_ip(settings: Settings) -> None:
    """One address cannot mass-create accounts."""
    strict = settings.model_copy(update={"register_max_per_ip": 2})
    async with instance(strict) as http:
        await register(http)
        await register(http)
        body = {"username": "third", "email": "third@example.com", "password": PASSWORD}
        problem(await http.post("/api/auth/register", json=body), 429)


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    """A refresh token works once; replaying it kills every token of that session."""
    account = await player(client)
    first = await client.post("/api/auth/refresh", json={"refreshToken": account.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refreshToken"] != account.refresh_token
    assert (await client.get("/api/users/me", headers={"Authorization": f"Bearer {rotated['accessToken']}"})).is_success
    problem(await client.post("/api/auth/refresh", json={"refreshToken": account.refresh_token}), 401)
    problem(await client.post("/api/auth/refresh", json={"refreshToken": rotated["refreshToken"]}), 401)
    problem(await client.get("/api/users/me", headers={"Authorization": f"Bearer {rotated['accessToken']}"}), 401)
    problem(await client.get("/api/users/me", headers=account.headers), 401)


async def test_refresh_rejects_unknown_and_expired_tokens(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Garbage and tokens of an expired session are 401."""
    problem(await client.post("/api/auth/refresh", json={"refreshToken": "sbr_nope"}), 401)
    problem(await client.post("/api/auth/refresh", json={}), 422)
    account = await player(client)
    await db.execute("UPDATE auth_sessions SET expires_at = now() - interval '1 second'")
    problem(await client.post("/api/auth/refresh", json={"refreshToken": account.refresh_token}), 401)


async def test_logout_revokes_at_once_on_every_instance(client: httpx.AsyncClient, settings: Settings) -> None:
    """After logout on one instance the access token fails on another; other sessions live on."""
    account = await player(client)
    laptop = await login(client, Account(account.id, account.username, account.email, account.password))
    async with instance(settings) as other:
        assert (await other.get("/api/users/me", headers=account.headers)).status_code == 200
        assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
        problem(await other.get("/api/users/me", headers=account.headers), 401)
        problem(await other.post("/api/auth/refresh", json={"refreshToken": account.refresh_token}), 401)
        assert (await other.get("/api/users/me", headers=laptop.headers)).status_code == 200


async def test_revocation_holds_while_redis_is_down(client: httpx.AsyncClient, settings: Settings) -> None:
    """Without Redis, access tokens are checked against PostgreSQL: revoked ones still fail, live ones work."""
    revoked = await player(client)
    live = await player(client)
    assert (await client.post("/api/auth/logout", headers=revoked.headers)).status_code == 204
    no_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with instance(no_redis) as http:
        problem(await http.get("/api/users/me", headers=revoked.headers), 401)
        assert (await http.get("/api/users/me", headers=live.headers)).status_code == 200
        await login(http, live)  # logins fail open on their throttle rather than lock everyone out


async def test_passwords_bcrypt_cannot_check_are_wrong_passwords(client: httpx.AsyncClient) -> None:
    """Over 72 bytes or with a NUL: never a stored password, so a 401 (or 403), never a 500."""
    account = await player(client)
    for bad in ("x" * 73, account.password + "\x00", "é" * 37):
        for login_name in (account.username, "nobody-here"):
            problem(await client.post("/api/auth/login", json={"login": login_name, "password": bad}), 401)
        change = {"currentPassword": bad, "newPassword": "brand new secret"}
        problem(await client.post("/api/users/me/password", headers=account.headers, json=change), 403)
    lone = json.dumps({"login": account.username, "password": "\udc00" * 8})  # httpx's encoder refuses it
    problem(await client.post("/api/auth/login", headers={"Content-Type": "application/json"}, content=lone), 422)
    await login(client, account)  # the real password still works: nothing above counted as a change


async def test_text_postgresql_cannot_store_is_a_422(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """A NUL character reaches no statement as a 500: the request is refused whole."""
    problem(await client.post("/api/auth/login", json={"login": "a\x00", "password": "whatever1"}), 422)
    boss = await admin(client, db)
    body = {"id": "nul-action", "name": "Nul", "points": 5, "description": "a\x00b"}
    problem(await client.post("/api/admin/actions", headers=boss.headers, json=body), 422)
    assert await db.fetchval("SELECT count(*) FROM actions WHERE id = 'nul-action'") == 0
    problem(await client.get("/api/admin/users", headers=boss.headers, params={"q": "\x00"}), 422)


async def test_password_change_revokes_every_session(client: httpx.AsyncClient) -> None:
    """A new password ends all sessions; the old password stops working, the new one works."""
    account = await player(client)
    phone = await login(client, Account(account.id, account.username, account.email, account.password))
    wrong = {"currentPassword": "not it at all", "newPassword": "brand new secret"}
    problem(await client.post("/api/users/me/password", headers=account.headers, json=wrong), 403)
    weak = {"currentPassword": account.password, "newPassword": "short"}
    problem(await client.post("/api/users/me/password", headers=account.headers, json=weak), 422)
    change = {"currentPassword": account.password, "newPassword": "brand new secret"}
    assert (await client.post("/api/users/me/password", headers=account.headers, json=change)).status_code == 204
    for session in (account, phone):
        problem(await client.get("/api/users/me", headers=session.headers), 401)
        problem(await client.post("/api/auth/refresh", json={"refreshToken": session.refresh_token}), 401)
    problem(await client.post("/api/auth/login", json={"login": account.username, "password": account.password}), 401)
    account.password = "brand new secret"
    await login(client, account)


async def test_revocation_written_while_redis_was_down_is_republished(
    app: object, client: httpx.AsyncClient, db: asyncpg.Connection, redis: Redis
) -> None:
    """A session revoked only in PostgreSQL reaches Redis with the next re-publish, and its token dies."""
    from scoreboard.auth.revocations import republish_once

    account = await player(client)
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200  # PostgreSQL vouched
    # As if the post-commit Redis write had failed: revoked in PostgreSQL only.
    await db.execute("UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1", account.id)
    assert (await client.get("/api/users/me", headers=account.headers)).status_code == 200
    assert await republish_once(app.state["pool"], app.state["redis"], app.state["settings"]) == 1
    problem(await client.get("/api/users/me", headers=account.headers), 401)


async def test_admin_cannot_deactivate_themself(client: httpx.AsyncClient, db: asyncpg.Connection) -> None:
    """Self-deactivation is refused so the last admin cannot lock everyone out by accident."""
    boss = await admin(client, db)
    problem(await client.post(f"/api/admin/users/{boss.id}/deactivate", headers=boss.headers), 409)
