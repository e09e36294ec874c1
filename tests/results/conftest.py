"""Result-board fixtures: an admin and a trusted game server's key on the test's app."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.fixtures.accounts import Account, admin
from tests.fixtures.results import results_key


@pytest.fixture
async def boss(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """An admin."""
    return await admin(client, db)


@pytest.fixture
async def server(client: httpx.AsyncClient, boss: Account) -> dict[str, str]:
    """A trusted game server's key (results:write)."""
    return await results_key(client, boss)
