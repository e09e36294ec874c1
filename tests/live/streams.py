"""Live-stream test helpers: serve an app over real TCP, read SSE frames and WebSocket messages."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect


@asynccontextmanager
async def serving(app: FastAPI, **config: Any) -> AsyncIterator[str]:
    """Serve an already started `app` with uvicorn (more `config` if given) on a free port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {"lifespan": "off", "log_config": None, "timeout_graceful_shutdown": 3, "access_log": False, **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Frame:
    """One SSE frame: an event (with id and JSON data) or a comment."""

    event: str | None = None
    id: int | None = None
    data: Any = None
    comment: str | None = None
    retry: int | None = None


class SSE:
    """Reads frames from an open `text/event-stream` response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def frame(self, within: float = 5.0) -> Frame:
        """The next frame (event or comment)."""
        frame, seen = Frame(), False
        async with asyncio.timeout(within):
            async for line in self._lines:
                if line == "":
                    if seen:
                        return frame
                    continue
                seen = True
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "":
                    frame.comment = value
                elif field == "event":
                    frame.event = value
                elif field == "id":
                    frame.id = int(value)
                elif field == "data":
                    frame.data = json.loads(value)
                elif field == "retry":
                    frame.retry = int(value)
        raise EOFError("the stream ended")

    async def event(self, within: float = 5.0) -> Frame:
        """The next event, skipping comments (heartbeats) and bare `retry:` frames."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.frame(within)
                if frame.event is not None:
                    return frame

    async def until(self, kind: str, within: float = 5.0) -> Frame:
        """The next event of `kind`, skipping others."""
        async with asyncio.timeout(within):
            while (frame := await self.event(within)).event != kind:
                pass
        return frame


@asynccontextmanager
async def sse(base: str, path: str = "/api/leaderboard/stream", **kwargs: Any) -> AsyncIterator[SSE]:
    """Open an SSE stream (asserting 200) and yield its reader."""
    timeout = httpx.Timeout(10.0, read=None)
    async with (
        httpx.AsyncClient(base_url=base, timeout=timeout) as http,
        http.stream("GET", path, **kwargs) as response,
    ):
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SSE(response)


@asynccontextmanager
async def websocket(base: str, query: str = "", **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """Open the WebSocket stream."""
    url = base.replace("http://", "ws://") + "/api/leaderboard/ws" + (f"?{query}" if query else "")
    async with connect(url, **kwargs) as ws:
        yield ws


async def ws_event(ws: ClientConnection, kind: str | None = None, within: float = 5.0) -> dict[str, Any]:
    """The next WebSocket message (of `kind`, skipping heartbeats and others)."""
    async with asyncio.timeout(within):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if (kind is None and message["type"] != "heartbeat") or message["type"] == kind:
                return message
