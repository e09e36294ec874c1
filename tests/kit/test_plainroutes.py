"""A route reading its plain inputs itself answers every request exactly as FastAPI's own handler does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from scoreboard.boards import router as boards
from scoreboard.kit.plainroutes import plain_handler
from scoreboard.kit.problems import install_problem_handlers
from scoreboard.kit.routing import Route
from scoreboard.leaderboard import router as leaderboard

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


class Body(BaseModel):
    """A body."""

    value: int


async def _dependency() -> int:
    return 1


async def takes_a_dependency(value: Annotated[int, Depends(_dependency)]) -> Response:
    """Not plain: a dependency."""
    return Response()


async def takes_a_body(body: Body) -> Response:
    """Not plain: a body."""
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
    "endpoint", [takes_a_dependency, takes_a_body, answers_a_model, takes_a_list, takes_a_response, is_sync]
)
async def test_anything_but_plain_inputs_keeps_the_frameworks_handler(endpoint: Any) -> None:
    async def framework(request: Request) -> Response:
        return Response()

    assert plain_handler(endpoint, (), framework) is None


@pytest.mark.parametrize(
    "endpoint", [leaderboard.top, leaderboard.around, boards.entries], ids=["top", "around", "board-entries"]
)
async def test_the_hot_reads_read_their_inputs_themselves(endpoint: Any) -> None:
    async def framework(request: Request) -> Response:
        return Response()

    assert plain_handler(endpoint, ("user_id", "board_id"), framework) is not None
