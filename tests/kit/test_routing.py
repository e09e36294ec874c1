"""A body that cannot be read as JSON is the same 422 on every route, however it fails; routes are mounted flat."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, Route

from scoreboard.app import create_app
from scoreboard.config import Settings
from scoreboard.kit.routing import mount_routes
from tests.fixtures.accounts import player

UNREADABLE = {
    "syntax": b"{not json",
    "not-utf8": b'{"login": "\\u00e9", "x": "\xff\xfe"}',
    "too-deep": b"[" * 5000 + b"]" * 5000,
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/scores", "/api/leaderboard/ranks"])
async def test_an_unreadable_body_is_a_422_json_invalid(client: httpx.AsyncClient, path: str, body: bytes) -> None:
    account = await player(client)
    headers = {**account.headers, "content-type": "application/json"}
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["type"] for error in response.json()["errors"]] == ["json_invalid"]


async def test_a_byte_order_mark_before_the_json_is_accepted(client: httpx.AsyncClient) -> None:
    account = await player(client)
    body = b'\xef\xbb\xbf{"login": "%s", "password": "%s"}' % (account.username.encode(), account.password.encode())
    response = await client.post("/api/auth/login", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_routes_are_mounted_flat_and_nested_routers_are_refused() -> None:
    app = create_app(Settings(database_url="postgresql://localhost/unused", redis_url="redis://localhost/0"))
    assert all(isinstance(r, (APIRoute, APIWebSocketRoute, Route, Mount)) for r in app.routes)  # matched once
    paths = {r.path for r in app.routes if isinstance(r, APIRoute)}
    assert {"/api/scores", "/healthz", "/api/leaderboard", "/api/boards/{board_id}/entries"} <= paths

    outer, inner = APIRouter(), APIRouter()
    inner.add_api_route("/inner", lambda: None)
    outer.include_router(inner)
    with pytest.raises(TypeError, match="nested routers"):
        mount_routes(FastAPI(), outer)
