"""JSON bodies read outside the framework: the size limit holds however the body arrives, errors read as FastAPI's."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import ClientDisconnect

from scoreboard.kit import jsonbody
from scoreboard.kit.problems import PayloadTooLarge, Unprocessable


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def _receiving(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _scope(**headers: str) -> dict[str, Any]:
    return {"type": "http", "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def _part(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_parts_is_joined() -> None:
    receive = _receiving(_part(b'{"na', True), _part(b'me": "x"}', False))
    assert await jsonbody.read_body(_scope(), receive, 100) == b'{"name": "x"}'


async def test_a_declared_size_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(PayloadTooLarge):
        await jsonbody.read_body(_scope(content_length="101"), _receiving(), 100)


async def test_a_streamed_body_is_cut_at_the_limit() -> None:
    parts = [_part(b"x" * 60, True), _part(b"x" * 60, True), _part(b"never read", False)]

    async def receive() -> dict[str, Any]:
        return parts.pop(0)

    with pytest.raises(PayloadTooLarge):
        await jsonbody.read_body(_scope(), receive, 100)
    assert parts == [_part(b"never read", False)]  # nothing past the limit was read


async def test_a_body_of_exactly_the_limit_is_read() -> None:
    receive = _receiving(_part(b"x" * 60, True), _part(b"x" * 40, False))
    assert await jsonbody.read_body(_scope(content_length="100"), receive, 100) == b"x" * 100


async def test_a_client_that_leaves_mid_body_is_a_disconnect() -> None:
    with pytest.raises(ClientDisconnect):
        await jsonbody.read_body(_scope(), _receiving(_part(b"{", True), {"type": "http.disconnect"}), 100)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("text/json", False),
        ("application/jsonx", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_json_media_types(content_type: str | None, expected: bool) -> None:
    assert jsonbody.is_json(content_type) is expected


def _errors(body: bytes, content_type: str | None = "application/json") -> list[Any]:
    with pytest.raises(Unprocessable) as refused:
        jsonbody.parse(Thing, body, content_type)
    return [(tuple(err["loc"]), err["type"]) for err in refused.value.extra["errors"]]


def test_parse_validates_and_roots_errors_at_the_body() -> None:
    assert jsonbody.parse(Thing, b'{"name": "x"}', "application/json") == Thing(name="x")
    assert _errors(b'{"name": "x", "admin": true}') == [(("body", "admin"), "extra_forbidden")]
    assert _errors(b"{}") == [(("body", "name"), "missing")]
    assert _errors(b"[1]") == [(("body",), "model_type")]


def test_parse_says_where_json_breaks_and_refuses_what_is_not_json() -> None:
    assert _errors(b'{"name": }') == [(("body", 9), "json_invalid")]
    assert _errors(b'{"name": "\xc3\x28"}')[0][1] == "json_invalid"  # not UTF-8
    assert _errors(b"") == [(("body",), "missing")]
    assert _errors(b'{"name": "x"}', "text/plain") == [(("body",), "json_type")]
    assert _errors(b'{"name": "x"}', None) == [(("body",), "json_type")]


def test_parse_takes_a_byte_order_mark_and_refuses_json_nested_too_deep() -> None:
    assert jsonbody.parse(Thing, b'\xef\xbb\xbf{"name": "x"}', "application/json") == Thing(name="x")
    assert _errors(b"[" * 2000 + b"]" * 2000) == [(("body",), "json_invalid")]
