"""The login lock counts per account, whatever name logs in, and takes each attempt before bcrypt runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import bcrypt
import httpx
import pytest
from redis.asyncio import Redis

from scoreboard.config import Settings
from tests.fixtures.accounts import Account, register
from tests.fixtures.instances import client_from, started

WRONG = "wrong password"


class Checks:
    """Counts the bcrypt password checks the app runs (bcrypt is a library, not one of our stores)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real: Callable[[bytes, bytes], bool] = bcrypt.checkpw

        def counting(password: bytes, hashed: bytes) -> bool:
            with self._lock:
                self.count += 1
            return real(password, hashed)

        monkeypatch.setattr(bcrypt, "checkpw", counting)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    """Count bcrypt checks from here on."""
    return Checks(monkeypatch)


def limits(settings: Settings, *, account: int = 5, ip: int = 1000) -> Settings:
    """Settings with these login limits (a high per-IP limit keeps account tests about the account)."""
    return settings.model_copy(update={"login_max_failures_per_account": account, "login_max_failures_per_ip": ip})


async def attempt(http: httpx.AsyncClient, name: str, password: str = WRONG) -> httpx.Response:
    """Log in as `name` with `password`."""
    return await http.post("/api/auth/login", json={"login": name, "password": password})


def assert_locked(response: httpx.Response) -> None:
    """Assert the login lock refused `response`: 429, a problem document, a Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1


def name_of(account: Account, which: str) -> str:
    """The username or the e-mail address of `account`."""
    return account.username if which == "username" else account.email


@pytest.mark.parametrize(("fail_by", "then_by"), [("username", "email"), ("email", "username")])
async def test_failures_by_one_login_name_lock_the_other(settings: Settings, fail_by: str, then_by: str) -> None:
    """5 failures by username lock the e-mail address too, and the other way round, even with the right password."""
    async with started(limits(settings)) as app, client_from(app) as http:
        account = await register(http, username="alice")
        for _ in range(5):
            assert (await attempt(http, name_of(account, fail_by))).status_code == 401
        assert_locked(await attempt(http, name_of(account, then_by)))
        assert_locked(await attempt(http, name_of(account, then_by), account.password))
        bystander = await register(http, username="bob")
        assert (await attempt(http, "bob", bystander.password)).status_code == 200


async def test_case_variations_count_to_one_account(settings: Settings, redis: Redis) -> None:
    """Alice, ALICE and aLiCe@EXAMPLE.com are one account; operators see its count at rate_limit:{id}:{endpoint}."""
    async with started(limits(settings)) as app, client_from(app) as http:
        account = await register(http, username="Alice")
        for name in ("Alice", "alice", "ALICE", "aLiCe", "ALICE@example.COM"):
            assert (await attempt(http, name)).status_code == 401
        assert_locked(await attempt(http, "alice@example.com", account.password))
    assert await redis.get(f"rate_limit:{account.id}:/api/auth/login") == "5"


async def test_concurrent_wrong_logins_check_at_most_the_limit(settings: Settings, checks: Checks) -> None:
    """50 wrong logins at once, by every name of one account, run bcrypt at most 5 times; none is a 500."""
    async with started(limits(settings)) as app, client_from(app) as http:
        account = await register(http, username="carol")
        spellings = ["carol", "CAROL", "carol@example.com", "Carol@Example.com", "cArOl"]
        checks.count = 0
        responses = await asyncio.gather(*(attempt(http, spellings[i % 5]) for i in range(50)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {401, 429}, statuses
        assert checks.count <= 5
        assert statuses.count(401) <= 5
        assert_locked(await attempt(http, "carol", account.password))


async def test_concurrent_wrong_logins_of_an_unknown_name_check_at_most_the_limit(
    settings: Settings, checks: Checks
) -> None:
    """An unknown login is counted by its name (any case), before the dummy bcrypt check, like an account."""
    async with started(limits(settings)) as app, client_from(app) as http:
        responses = await asyncio.gather(*(attempt(http, "ghost" if i % 2 else "GHOST") for i in range(50)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {401, 429}, statuses
        assert checks.count <= 5
        assert_locked(await attempt(http, "Ghost"))


async def test_a_locked_account_stays_locked_for_the_right_password(settings: Settings) -> None:
    """Failures spread over names and addresses add up; then the right password is refused from anywhere."""
    async with started(limits(settings)) as app:
        async with client_from(app) as http:
            account = await register(http, username="dave")
        spread = [("dave", "10.0.0.1"), ("DAVE", "10.0.0.2"), ("dave@example.com", "10.0.0.3")]
        spread += [("Dave", "10.0.0.4"), ("DAVE@EXAMPLE.COM", "10.0.0.5")]
        for name, ip in spread:
            async with client_from(app, ip) as attacker:
                assert (await attempt(attacker, name)).status_code == 401
        async with client_from(app, "10.9.9.9") as owner:
            for name in ("dave", "dave@example.com"):
                assert_locked(await attempt(owner, name, account.password))


async def test_success_clears_the_count_for_every_login_name(settings: Settings) -> None:
    """A successful login, by any name, forgets the account's failures, as before."""
    async with started(limits(settings)) as app, client_from(app) as http:
        account = await register(http, username="erin")
        for _ in range(4):
            assert (await attempt(http, "erin@example.com")).status_code == 401
        assert (await attempt(http, "erin", account.password)).status_code == 200
        for _ in range(4):
            assert (await attempt(http, "erin@example.com")).status_code == 401
        assert (await attempt(http, "erin@example.com", account.password)).status_code == 200
        assert (await attempt(http, "ERIN", account.password)).status_code == 200


async def test_the_per_ip_limit_holds_under_concurrency(settings: Settings, checks: Checks) -> None:
    """50 wrong logins at once for 50 names from one address run bcrypt at most 5 times; other addresses go on."""
    async with started(limits(settings, account=1000, ip=5)) as app:
        async with client_from(app, "10.1.1.1") as http:
            account = await register(http, username="frank")
            checks.count = 0
            logins = ["frank", *(f"spray{i}" for i in range(49))]
            responses = await asyncio.gather(*(attempt(http, name) for name in logins))
            statuses = [r.status_code for r in responses]
            assert set(statuses) <= {401, 429}, statuses
            assert checks.count <= 5
            assert_locked(await attempt(http, "frank", account.password))
        async with client_from(app, "10.2.2.2") as elsewhere:
            assert (await attempt(elsewhere, "frank", account.password)).status_code == 200
