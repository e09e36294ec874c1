"""X-Request-ID: kept when usable, made otherwise, on every response (errors and streams too) and every log line."""

from __future__ import annotations

import json
import logging
import os
import re

import httpx
import pytest

from scoreboard.kit import requestids
from tests.fixtures.apps import Running
from tests.fixtures.logs import service_logs
from tests.fixtures.problems import assert_problem
from tests.fixtures.streams import serving, sse, websocket

MADE = re.compile(r"[0-9a-f]{32}")


def _add_probe_routes(running: Running) -> None:
    # Out of the document: they are the test's, not the API's.
    @running.app.get("/probe/log", include_in_schema=False)
    async def log_something() -> dict[str, str]:
        logging.getLogger("probe").warning("inside the request")
        return {}

    @running.app.get("/probe/crash", include_in_schema=False)
    async def crash() -> None:
        raise RuntimeError("boom")


def only_id(response: httpx.Response) -> str:
    """The response's one X-Request-ID."""
    ids = response.headers.get_list("x-request-id")
    assert len(ids) == 1, ids
    return ids[0]


@pytest.mark.parametrize("request_id", ["abc-123", "x" * 128, "with spaces: and ;/?=", "~"])
async def test_a_usable_id_is_kept(client: httpx.AsyncClient, request_id: str) -> None:
    """1-128 printable ASCII characters come back as sent."""
    assert only_id(await client.get("/healthz", headers={"X-Request-ID": request_id})) == request_id


async def test_a_request_without_one_gets_a_new_id(client: httpx.AsyncClient) -> None:
    """32 random hex digits, different each time."""
    first, second = only_id(await client.get("/healthz")), only_id(await client.get("/healthz"))
    assert MADE.fullmatch(first)
    assert MADE.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("sent", ["x" * 129, "caf\u00e9".encode(), b"del\x7f", b"tab\tin"], ids=repr)
async def test_an_unusable_id_is_replaced(client: httpx.AsyncClient, sent: str | bytes) -> None:
    """Too long, not ASCII, or with a control character: a new id instead (never echoed into headers or logs)."""
    assert MADE.fullmatch(only_id(await client.get("/healthz", headers={"X-Request-ID": sent})))


async def test_error_responses_carry_the_id(app: Running, client: httpx.AsyncClient) -> None:
    """404, 405, 422, 401, 413 and the last-resort 500 all answer with the request's id."""
    _add_probe_routes(app)
    sent = {"X-Request-ID": "failing-1"}
    answers = [
        (await client.get("/no/such/path", headers=sent), 404),
        (await client.delete("/healthz", headers=sent), 405),
        (await client.post("/api/auth/login", json={}, headers=sent), 422),
        (await client.get("/api/users/me", headers=sent), 401),
        (await client.post("/api/auth/login", content=b"x" * 20_000, headers=sent), 413),
        (await client.get("/probe/crash", headers=sent), 500),
    ]
    for response, status in answers:
        assert_problem(response, status)
        assert only_id(response) == "failing-1", status


async def test_streams_carry_the_id(app: Running) -> None:
    """The SSE response and the WebSocket handshake's answer have the id, sent or made."""
    async with serving(app) as base:
        async with sse(base, headers={"X-Request-ID": "stream-1"}) as stream:
            assert only_id(stream.response) == "stream-1"
        async with sse(base) as stream:
            assert MADE.fullmatch(only_id(stream.response))
        async with websocket(base, additional_headers={"X-Request-ID": "socket-1"}) as ws:
            assert ws.response is not None
            assert ws.response.headers.get_all("x-request-id") == ["socket-1"]


async def test_every_text_line_of_a_request_carries_its_id(app: Running, client: httpx.AsyncClient) -> None:
    """Lines logged inside a request end its `[id]`, the 500's error line included; others show `[-]`."""
    _add_probe_routes(app)
    with service_logs("text") as output:
        await client.get("/probe/log", headers={"X-Request-ID": "text-1"})
        await client.get("/probe/crash", headers={"X-Request-ID": "text-2"})
        logging.getLogger("probe").warning("outside any request")
    lines = output.getvalue().splitlines()
    assert any("probe [text-1]: inside the request" in line for line in lines), lines
    assert any("[text-2]: unhandled error on GET /probe/crash" in line for line in lines), lines
    assert any("probe [-]: outside any request" in line for line in lines), lines


async def test_every_json_line_of_a_request_carries_its_id(app: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON lines have `request_id` inside a request (the server's access line too) and none outside."""
    _add_probe_routes(app)
    # uvicorn stops the access logger propagating when a server runs with access_log=False, as others here do.
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "propagate", True)
    with service_logs("json") as output:
        async with serving(app, access_log=True) as base, httpx.AsyncClient(base_url=base) as http:
            await http.get("/probe/log", headers={"X-Request-ID": "json-1"})
            made = only_id(await http.get("/healthz"))
        logging.getLogger("probe").warning("outside any request")
    records = [json.loads(line) for line in output.getvalue().splitlines()]

    def request_id(logger: str, text: str) -> str | None:
        [record] = [r for r in records if r["logger"] == logger and text in r["msg"]]
        return record.get("request_id")

    assert request_id("probe", "inside the request") == "json-1"
    assert request_id("uvicorn.access", '"GET /probe/log HTTP/1.1" 200') == "json-1"
    assert request_id("uvicorn.access", '"GET /healthz HTTP/1.1" 200') == made
    assert request_id("probe", "outside any request") is None


def test_made_ids_are_distinct_across_blocks_of_random_bytes() -> None:
    """Ids cut from one block of random bytes and from the next are all different, 32 hex digits each."""
    made = [requestids.new_id() for _ in range(1000)]  # a block holds 256
    assert len(set(made)) == len(made)
    assert all(MADE.fullmatch(one) for one in made)


def test_a_forked_child_makes_ids_its_parent_does_not() -> None:
    """A child does not hand out what was left of its parent's block of random bytes."""
    requestids.new_id()  # the block is read: what is left of it would be the next ids of both
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(writing, requestids.new_id().encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    childs = os.read(reading, 64).decode()
    os.close(reading)
    assert MADE.fullmatch(childs)
    assert childs != requestids.new_id()
