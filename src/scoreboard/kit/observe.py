"""Give every request an id (its own or a new one) for its response and log lines, and count it by route."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoreboard.kit import metrics, requestids

_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


class ObserveMiddleware:
    """Request ids and request metrics in one pass over the response messages (one layer on the hot path, not two).

    The route is read from `scope["route"]`, which routing sets on the scope this middleware passed down.
    """

    def __init__(self, app: ASGIApp, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self._pool_watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(scope, send) if self.metrics else send)
            return
        request_id = requestids.accepted(scope["headers"])
        header = (requestids.HEADER, request_id.encode("ascii"))
        counted = self.metrics and kind == "http"
        started = time.perf_counter()
        answered = False

        async def stamped(message: Message) -> None:
            nonlocal answered
            if message["type"] in _STARTS:
                # A copy: the headers may be a list the response object (or a module constant) keeps.
                message = {**message, "headers": [*message.get("headers", ()), header]}
                if counted and message["type"] == "http.response.start":
                    answered = True
                    metrics.observe_request(scope.get("route"), scope["method"], message["status"], _since(started))
            await send(message)

        # Starlette's last-resort handler answers an unhandled error with a 500 outside this middleware: it finds the
        # id in the scope.
        scope[requestids.SCOPE_KEY] = request_id
        with requestids.bound(request_id):
            try:
                await self.app(scope, receive, stamped)
            except Exception:
                if counted and not answered:  # the 500 that handler sends
                    metrics.observe_request(scope.get("route"), scope["method"], 500, _since(started))
                raise

    def _lifespan_send(self, scope: Scope, send: Send) -> Send:
        """Watch the pool of the state the app's start-up yields, until it shuts down (servers only, not tests)."""

        async def watching(message: Message) -> None:
            kind: str = message["type"]
            state: dict[str, Any] = scope.get("state") or {}
            if kind == "lifespan.startup.complete" and "pool" in state:
                self._pool_watcher = asyncio.create_task(metrics.watch_pool(state["pool"]), name="pool-metrics")
            elif kind.startswith("lifespan.shutdown") and self._pool_watcher is not None:
                watcher, self._pool_watcher = self._pool_watcher, None
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await send(message)

        return watching


def _since(started: float) -> float:
    return time.perf_counter() - started
