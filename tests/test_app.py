"""The app as a whole: one entry per route, so a pure-ASGI middleware sees every request, hot routes included."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.types import ASGIApp, Receive, Scope, Send

from scoreboard.app import create_app
from scoreboard.config import Settings
from tests.fixtures.accounts import player
from tests.fixtures.apps import Running
from tests.fixtures.streams import serving, sse, websocket, ws_event

SRC = Path(__file__).parents[1] / "src" / "scoreboard"


class Seen:
    """A pure-ASGI middleware that records every request's type, method and path, and the status it got."""

    def __init__(self, app: ASGIApp, log: list[tuple[str, str, str, int | None]]) -> None:
        self.app, self.log = app, log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def watch(message: dict[str, object]) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                status.append(int(message["status"]))  # type: ignore[call-overload]
            await send(message)

        try:
            await self.app(scope, receive, watch)  # type: ignore[arg-type]
        finally:
            self.log.append((scope["type"], scope.get("method", ""), scope["path"], status[0] if status else None))


async def test_a_middleware_sees_awards_streams_and_websockets(settings: Settings) -> None:
    log: list[tuple[str, str, str, int | None]] = []
    app = create_app(settings)
    app.add_middleware(Seen, log=log)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app) as state:
        running = Running(app, state)
        async with serving(running) as base, httpx.AsyncClient(base_url=base) as http:
            alice = await player(http)
            assert (
                await http.post("/api/scores", json={"actionId": "complete-quest"}, headers=alice.headers)
            ).status_code == 201
            assert (await http.post("/api/scores", content=b"{", headers=alice.headers)).status_code == 422
            async with sse(base) as stream:
                await stream.until("snapshot")
            async with websocket(base) as ws:
                await ws_event(ws, "snapshot")
    assert ("http", "POST", "/api/scores", 201) in log
    assert ("http", "POST", "/api/scores", 422) in log
    assert ("http", "GET", "/api/leaderboard/stream", 200) in log
    assert [entry for entry in log if entry[0] == "websocket"] == [("websocket", "", "/api/leaderboard/ws", None)]


def test_every_route_is_an_api_route_with_one_path_and_method(settings: Settings) -> None:
    """No pre-routing table and no second entry: each (method, path) is served by exactly one route."""
    seen: set[tuple[str, str]] = set()
    for context in iter_route_contexts(create_app(settings).routes):
        route, path = context.original_route, str(context.path)
        if isinstance(route, APIRoute):
            for method in context.methods or ():
                assert (method, path) not in seen
                seen.add((method, path))
        elif isinstance(route, APIWebSocketRoute):
            assert ("WS", path) not in seen
            seen.add(("WS", path))
    assert {("POST", "/api/scores"), ("GET", "/api/leaderboard/stream"), ("WS", "/api/leaderboard/ws")} <= seen


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(SRC.rglob("*.py"))]


def test_dependencies_are_declared_in_one_module() -> None:
    """`Depends(...)` and `Security(...)` appear only in scoreboard/deps.py; routes use its Annotated aliases."""
    outside = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path, tree in _modules()
        if path.name != "deps.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("Depends", "Security")
    ]
    assert outside == []


@pytest.mark.parametrize("layer", ["service.py", "repository.py"])
def test_services_and_repositories_never_see_a_request(layer: str) -> None:
    """Rules and SQL take plain arguments: no FastAPI or Starlette request, connection or state in their imports."""
    offenders = [
        f"{path.relative_to(SRC)}: {alias.name}"
        for path, tree in _modules()
        if path.name == layer
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("fastapi", "starlette")
        for alias in node.names
    ]
    assert offenders == []


def test_no_subclass_of_the_framework_app() -> None:
    """One app factory, a plain FastAPI app: no subclass that serves routes ahead of routing."""
    subclasses = [
        f"{path.relative_to(SRC)}: {node.name}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(getattr(base, "id", getattr(base, "attr", "")) in ("FastAPI", "Starlette") for base in node.bases)
    ]
    assert subclasses == []
