"""Give every request an id (its own or a new one) for its response and its log lines."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoreboard.kit import requestids

_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


class ObserveMiddleware:
    """The request's id on its response's headers and on the log lines written while it is served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = requestids.accepted(scope["headers"])
        header = (requestids.HEADER, request_id.encode("ascii"))

        async def stamped(message: Message) -> None:
            if message["type"] in _STARTS:
                # A copy: the headers may be a list the response object (or a module constant) keeps.
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        # Starlette's last-resort handler answers an unhandled error with a 500 outside this middleware: it finds the
        # id in the scope.
        scope[requestids.SCOPE_KEY] = request_id
        with requestids.bound(request_id):
            await self.app(scope, receive, stamped)
