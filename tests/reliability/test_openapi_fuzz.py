"""schemathesis over the served /openapi.json, as a player and as an admin: no 5xx, no answer outside the schema."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from tests.fixtures.accounts import Account, login, register
from tests.fixtures.faults import Stores, report
from tests.fixtures.processes import sql
from tests.fixtures.served import Service

# What the suite asks of every answer: no server error, and status, content type, headers and body as documented.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
# Bounded: the whole operation list runs in about a minute; failures are reported, not shrunk.
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
# These end or replace the caller's own session or account: each such case gets a player of its own.
SELF_ENDING = {("DELETE", "/api/users/me"), ("POST", "/api/users/me/password"), ("POST", "/api/auth/logout")}


async def _account(base: str, stores: Stores | None = None) -> Account:
    async with httpx.AsyncClient(base_url=base, timeout=15) as http:
        account = await register(http)
        if stores is not None:
            await asyncio.to_thread(
                sql, stores.database_url, "UPDATE users SET role = 'admin' WHERE id = $1", account.id
            )
        return await login(http, account)


@pytest.fixture
def tokens(served: Service, stores: Stores) -> dict[str, Account]:
    """A logged-in player and a logged-in admin."""
    return {
        "player": asyncio.run(_account(served.base)),
        "admin": asyncio.run(_account(served.base, stores)),
    }


def test_every_operation_answers_as_documented(served: Service, tokens: dict[str, Account]) -> None:
    """Valid and invalid generated requests to every operation get no 5xx and only documented answers."""
    schema = schemathesis.openapi.from_url(f"{served.base}/openapi.json")
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith(("/stream", "/ws")):
            continue  # endless by design: tests/live covers them
        strategy = st.one_of(operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))

        @given(case=strategy)
        @EXAMPLES
        def call(case: Any) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=_caller(case, served, tokens).headers, checks=CHECKS, timeout=15)

        try:
            call()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {exc}")
    report("openapi_fuzz", calls=calls, failures=len(failures))
    assert calls > 0
    assert failures == [], "\n\n".join(failures)


def _caller(case: Any, served: Service, tokens: dict[str, Account]) -> Account:
    """The admin on /api/admin, a fresh player where the call ends its own session, else the shared player."""
    if (case.method.upper(), case.path) in SELF_ENDING:
        return asyncio.run(_account(served.base))
    return tokens["admin" if case.path.startswith("/api/admin") else "player"]
