"""A route serving its plain inputs, body and dependencies itself answers every request as FastAPI's handler does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import Body as FastAPIBody
from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.requests import HTTPConnection

from scoreboard.boards import router as boards
from scoreboard.kit.plainroutes import plain_handler
from scoreboard.kit.problems import install_problem_handlers
from scoreboard.kit.routing import Route
from scoreboard.leaderboard import router as leaderboard
from scoreboard.scores import router as scores

calls = {"framework": 0}


async def echo(
    request: Request,
    board_id: Annotated[str, Path(min_length=1, max_length=8)],
    user_id: UUID,
    required: Annotated[bool, Query()],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    low: Annotated[int | None, Query(alias="min", ge=0)] = None,
    period: Annotated[str, Query(min_length=1, max_length=4)] = "now",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Echo what the route was given."""
    given = {
        "board_id": board_id,
        "user_id": str(user_id),
        "limit": limit,
        "low": low,
        "period": period,
        "required": required,
        "if_none_match": if_none_match,
        "path": request.url.path,
    }
    return Response(json.dumps(given), media_type="application/json")


class Counted(APIRoute):
    """A route answered by `plain_handler`, with FastAPI's own handler (its fallback) counting what it is given."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()

        async def framework(request: Request) -> Response:
            calls["framework"] += 1
            return await handler(request)

        plain = plain_handler(self.endpoint, self.param_convertors, framework)
        assert plain is not None
        return plain


@pytest.fixture
async def both() -> AsyncIterator[httpx.AsyncClient]:
    """The same endpoint: `/plain/...` a `Route`, `/framework/...` FastAPI's `APIRoute`, `/counted/...` counting."""
    app = FastAPI()
    install_problem_handlers(app)
    app.router.add_api_route("/plain/{board_id}/{user_id}", echo, route_class_override=Route)
    app.router.add_api_route("/counted/{board_id}/{user_id}", echo, route_class_override=Counted)
    app.router.add_api_route("/framework/{board_id}/{user_id}", echo, route_class_override=APIRoute)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


USER = "3f2b8c4e-9a41-4c33-8a5e-2c6f1d9b7a10"
VALID = [
    f"b/{USER}?required=true",
    f"b/{USER}?required=1&limit=100&min=0&period=abcd",
    f"b/{USER}?required=false&limit=5&limit=7",  # repeated: the last one counts, as in FastAPI
    f"b/{USER}?required=yes&limit=%2042",
    f"b/{USER.upper()}?required=no&min=12",
    f"abcdefgh/{USER}?required=on&unknown=1",
]
INVALID = [
    f"b/{USER}",  # a required value missing
    f"b/{USER}?required=true&limit=0",
    f"b/{USER}?required=true&limit=101",
    f"b/{USER}?required=true&limit=ten",
    f"b/{USER}?required=true&limit=",
    f"b/{USER}?required=true&limit=1.5",
    f"b/{USER}?required=true&min=-1",
    f"b/{USER}?required=true&period=",
    f"b/{USER}?required=true&period=toolong",
    f"b/{USER}?required=maybe",
    "b/not-a-uuid?required=true",
    f"abcdefghi/{USER}?required=true",
]


@pytest.mark.parametrize("path", VALID + INVALID)
@pytest.mark.parametrize("etag", [None, '"abc"', ""])
async def test_the_answer_is_the_frameworks(both: httpx.AsyncClient, path: str, etag: str | None) -> None:
    headers = {} if etag is None else {"If-None-Match": etag}
    plain = await both.get(f"/plain/{path}", headers=headers)
    framework = await both.get(f"/framework/{path}", headers=headers)
    assert plain.status_code == framework.status_code
    assert plain.headers["content-type"] == framework.headers["content-type"]
    body = plain.json()
    if plain.status_code == 200:
        assert body.pop("path") == f"/plain/{path.split('?')[0]}"
        assert framework.json().pop("path") == f"/framework/{path.split('?')[0]}"
    else:
        assert plain.status_code == 422
        body.pop("instance", None)
    expected = framework.json()
    expected.pop("path", None)
    expected.pop("instance", None)
    assert body == expected


@pytest.mark.parametrize("path", VALID)
async def test_valid_input_goes_straight_to_the_endpoint(both: httpx.AsyncClient, path: str) -> None:
    before = calls["framework"]
    assert (await both.get(f"/counted/{path}")).status_code == 200
    assert calls["framework"] == before


@pytest.mark.parametrize("path", INVALID)
async def test_invalid_input_is_handed_to_the_framework(both: httpx.AsyncClient, path: str) -> None:
    before = calls["framework"]
    assert (await both.get(f"/counted/{path}")).status_code == 422
    assert calls["framework"] == before + 1


bearer = HTTPBearer(auto_error=False)
key_scheme = APIKeyHeader(name="X-Key", auto_error=False)


class Item(BaseModel):
    """A body."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(max_length=5)]
    count: int = 1


async def caller(
    conn: HTTPConnection,
    token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    key: Annotated[str | None, Security(key_scheme)],
    tag: Annotated[str | None, Header(alias="X-Tag", max_length=3)] = None,
) -> dict[str, Any]:
    """Who calls: a bearer token or a key, else 401."""
    conn.scope["caller_calls"] = conn.scope.get("caller_calls", 0) + 1
    if token is None and key is None:
        raise HTTPException(status_code=401, detail="who?")
    return {"who": token.credentials if token is not None else key, "tag": tag}


Caller = Annotated[dict[str, Any], Depends(caller)]


async def who_again(first: Caller) -> str:
    """The caller once more: FastAPI calls `caller` once per request."""
    return str(first["who"])


async def write(
    item: Item,
    who: Caller,
    again: Annotated[str, Depends(who_again)],
    request: Request,
    limit: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """Echo what the route was given."""
    given = {
        "item": item.model_dump(),
        "who": who,
        "again": again,
        "limit": limit,
        "calls": request.scope.get("caller_calls", 0),
    }
    return Response(json.dumps(given), status_code=201, media_type="application/json")


def _write_app() -> FastAPI:
    """The same write endpoint: `/plain` a `Route`, `/framework` FastAPI's `APIRoute`."""
    app = FastAPI()
    install_problem_handlers(app)
    for prefix, route_class in (("/plain", Route), ("/framework", APIRoute)):
        app.router.add_api_route(prefix, write, methods=["POST"], route_class_override=route_class)
    return app


@pytest.fixture
async def writes() -> AsyncIterator[httpx.AsyncClient]:
    """A client of `_write_app`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_write_app()), base_url="http://test") as client:
        yield client


JSON = {"content-type": "application/json"}
BEARER = {"authorization": "Bearer t0ken", **JSON}
WRITES = {
    "bearer": ("", BEARER, b'{"name": "abc"}'),
    "key": ("?limit=3", {"x-key": "k3y", "x-tag": "ab", **JSON}, b'{"name": "abc", "count": 2}'),
    "problem+json": ("", {**BEARER, "content-type": "application/problem+json"}, b'{"name": "a"}'),
    "charset": ("", {**BEARER, "content-type": "Application/JSON; charset=utf-8"}, b'{"name": "a"}'),
    "bom": ("", BEARER, b'\xef\xbb\xbf{"name": "a"}'),
    "no caller": ("", JSON, b'{"name": "abc"}'),
    "no caller, bad body": ("", JSON, b'{"name": "toolong"}'),
    "extra field": ("", BEARER, b'{"name": "abc", "points": 5}'),
    "too long": ("", BEARER, b'{"name": "toolong"}'),
    "wrong type": ("", BEARER, b'{"name": "abc", "count": "x"}'),
    "not json": ("", BEARER, b'{"name": '),
    "empty": ("", BEARER, b""),
    "no content type": ("", {"authorization": "Bearer t0ken"}, b'{"name": "abc"}'),
    "text": ("", {**BEARER, "content-type": "text/plain"}, b'{"name": "abc"}'),
    "array": ("", BEARER, b"[]"),
    "bad query": ("?limit=0", BEARER, b'{"name": "abc"}'),
    "bad header": ("", {**BEARER, "x-tag": "long"}, b'{"name": "abc"}'),
    "not a bearer": ("", {**JSON, "authorization": "Basic eA=="}, b'{"name": "abc"}'),
}


@pytest.mark.parametrize(("query", "headers", "body"), WRITES.values(), ids=WRITES.keys())
async def test_a_write_is_answered_as_the_framework_answers_it(
    writes: httpx.AsyncClient, query: str, headers: dict[str, str], body: bytes
) -> None:
    plain = await writes.post(f"/plain{query}", content=body, headers=headers)
    framework = await writes.post(f"/framework{query}", content=body, headers=headers)
    assert (plain.status_code, plain.headers["content-type"]) == (
        framework.status_code,
        framework.headers["content-type"],
    )
    answer, expected = plain.json(), framework.json()
    if isinstance(answer, dict) and isinstance(expected, dict):
        answer.pop("instance", None)
        expected.pop("instance", None)
    assert answer == expected
    if plain.status_code == 201:
        assert answer["calls"] == 1  # one call of a dependency needed twice, as FastAPI makes it


class Body(BaseModel):
    """A body."""

    value: int


async def _opened() -> AsyncIterator[int]:
    yield 1


def _in_a_thread() -> int:
    return 1


async def _dependency() -> int:
    return 1


async def takes_a_generator(value: Annotated[int, Depends(_opened)]) -> Response:
    """Not plain: a dependency with an exit (FastAPI's exit stack runs it)."""
    return Response()


async def takes_a_sync_dependency(value: Annotated[int, Depends(_in_a_thread)]) -> Response:
    """Not plain: a dependency FastAPI runs in a thread."""
    return Response()


async def takes_an_uncached_dependency(value: Annotated[int, Depends(_dependency, use_cache=False)]) -> Response:
    """Not plain: a dependency called anew each time it is needed."""
    return Response()


async def takes_an_embedded_body(body: Annotated[Body, FastAPIBody(embed=True)]) -> Response:
    """Not plain: a body under a key of its own."""
    return Response()


async def takes_two_bodies(first: Body, second: Body) -> Response:
    """Not plain: a body of several models."""
    return Response()


async def takes_a_cookie(session: Annotated[str | None, Cookie()] = None) -> Response:
    """Not plain: a cookie."""
    return Response()


async def answers_a_model(limit: Annotated[int, Query()] = 1) -> Body:
    """Not plain: the answer needs the response model."""
    return Body(value=limit)


async def takes_a_list(ids: Annotated[list[int], Query()]) -> Response:
    """Not plain: a repeated value."""
    return Response()


async def takes_a_response(response: Response, limit: Annotated[int, Query()] = 1) -> Response:
    """Not plain: FastAPI's sub-response."""
    return response


def is_sync(limit: Annotated[int, Query()] = 1) -> Response:
    """Not plain: run in a thread by FastAPI."""
    return Response()


@pytest.mark.parametrize(
    "endpoint",
    [
        takes_a_generator,
        takes_a_sync_dependency,
        takes_an_uncached_dependency,
        takes_an_embedded_body,
        takes_two_bodies,
        takes_a_cookie,
        answers_a_model,
        takes_a_list,
        takes_a_response,
        is_sync,
    ],
)
async def test_anything_but_plain_inputs_keeps_the_frameworks_handler(endpoint: Any) -> None:
    async def framework(request: Request) -> Response:
        return Response()

    assert plain_handler(endpoint, (), framework) is None


@pytest.mark.parametrize(
    "endpoint",
    [leaderboard.top, leaderboard.around, boards.entries, scores.award],
    ids=["top", "around", "board-entries", "award"],
)
async def test_the_hot_routes_serve_their_inputs_themselves(endpoint: Any) -> None:
    async def framework(request: Request) -> Response:
        return Response()

    assert plain_handler(endpoint, ("user_id", "board_id"), framework) is not None


async def test_dependency_overrides_are_the_frameworks_to_solve() -> None:
    async def somebody() -> dict[str, Any]:
        return {"who": "override", "tag": None}

    app = _write_app()
    app.dependency_overrides[caller] = somebody
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/plain", content=b'{"name": "abc"}', headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["who"] == {"who": "override", "tag": None}
