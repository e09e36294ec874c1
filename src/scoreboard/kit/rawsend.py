"""Expose the server's own `send` to streaming endpoints, under every framework wrapper."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

SCOPE_KEY = "scoreboard.raw_send"


class RawSendApp(FastAPI):
    """A FastAPI app that puts the server's `send` into the scope before its middleware stack wraps it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Each layer (error middleware, exception handlers, routes) wraps `send` in a coroutine of its own; a
        # broadcaster writing one event to 10,000 streams would pay for every layer 10,000 times. Streams still
        # start and end through the wrapped `send`, so the layers see a normal response.
        scope[SCOPE_KEY] = send
        await super().__call__(scope, receive, send)
