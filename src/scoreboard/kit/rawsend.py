"""Long-lived streams outside the framework's layers: the server's own `send`, and routes served before routing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "scoreboard.raw_send"


class RawSendApp(FastAPI):
    """A FastAPI app that hands streaming endpoints the server's `send` and can serve some GETs before routing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Path -> ASGI app for GET requests that skip the middleware stack and routing. A stream's request lives
        # as long as the stream; each framework layer keeps its frames, scope copies and exit stacks alive for
        # that long (~12 KB per stream), which at 10,000 streams is most of a process's memory.
        self.bare_routes: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            bare = self.bare_routes.get(scope["path"])
            if bare is not None:
                scope["app"] = self
                await bare(scope, receive, send)
                return
        # Each layer (error middleware, exception handlers, routes) wraps `send` in a coroutine of its own; a
        # broadcaster writing one event to 10,000 streams would pay for every layer 10,000 times. Streams still
        # start and end through the wrapped `send`, so the layers see a normal response.
        scope[SCOPE_KEY] = send
        await super().__call__(scope, receive, send)
