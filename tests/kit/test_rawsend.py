"""RawSendApp's routes ahead of the framework, and when ChunkWriter may write to a socket directly."""

from __future__ import annotations

from typing import Any

import pytest

from scoreboard.kit.rawsend import ChunkWriter, RawSendApp, frame

Message = dict[str, Any]


async def _call(app: RawSendApp, method: str, path: str, root_path: str = "") -> list[Message]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _app_with_bare_route(served: list[str]) -> RawSendApp:
    app = RawSendApp()

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        assert scope["app"] is app
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.bare_routes["/live"] = bare
    return app


@pytest.mark.parametrize(("path", "root_path"), [("/live", ""), ("/sb/live", "/sb")])
async def test_a_bare_route_serves_gets_with_or_without_a_root_path(path: str, root_path: str) -> None:
    served: list[str] = []
    sent = await _call(_app_with_bare_route(served), "GET", path, root_path)
    assert served == [path]
    assert sent[0]["status"] == 204


@pytest.mark.parametrize(("method", "path"), [("POST", "/live"), ("GET", "/live/more"), ("GET", "/elsewhere")])
async def test_other_methods_and_paths_go_through_the_framework(method: str, path: str) -> None:
    served: list[str] = []
    sent = await _call(_app_with_bare_route(served), method, path)
    assert served == []
    assert sent[0]["status"] == 404  # FastAPI's router: no route here


async def test_the_chunk_writer_is_only_for_uvicorns_httptools_cycle() -> None:
    async def send(message: Message) -> None:
        pass

    class LooksLikeACycle:
        chunked_encoding, response_started, response_complete, disconnected = True, True, False, False

        async def send(self, message: Message) -> None:
            pass

    assert ChunkWriter.of(send) is None  # a plain function
    assert ChunkWriter.of(LooksLikeACycle().send) is None  # the right attributes, but not uvicorn's class


def test_a_frame_is_one_http_chunk_and_an_empty_body_is_no_chunk() -> None:
    assert frame(b"data: x\n\n") == b"9\r\ndata: x\n\n\r\n"
    assert frame(b"") == b""  # an empty chunk would end the response
