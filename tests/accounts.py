"""Accounts through the real API: register, log in, promote to admin."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import httpx

_seq = itertools.count(1)
PASSWORD = "correct horse battery"


@dataclass
class Account:
    """A registered user and their current tokens."""

    id: UUID
    username: str
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this account's access token."""
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: httpx.AsyncClient, *, username: str | None = None, password: str = PASSWORD) -> Account:
    """Register a new player (not logged in)."""
    name = username or f"player{next(_seq)}"
    response = await client.post(
        "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(id=UUID(body["id"]), username=name, email=body["email"], password=password)


async def login(client: httpx.AsyncClient, account: Account) -> Account:
    """Log `account` in and keep its tokens."""
    response = await client.post("/api/auth/login", json={"login": account.username, "password": account.password})
    assert response.status_code == 200, response.text
    account.access_token = response.json()["accessToken"]
    account.refresh_token = response.json()["refreshToken"]
    return account


async def player(client: httpx.AsyncClient, **kwargs: str) -> Account:
    """Register and log in a player."""
    return await login(client, await register(client, **kwargs))


async def admin(client: httpx.AsyncClient, db: asyncpg.Connection) -> Account:
    """Register a user, promote them to admin, and log in (the role is in the token)."""
    account = await register(client)
    await db.execute("UPDATE users SET role = 'admin' WHERE id = $1", account.id)
    return await login(client, account)
