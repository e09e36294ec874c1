"""Refuse request bodies over a size limit with 413, whether announced or streamed."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scoreboard.kit.problems import problem_response


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    """Whether the request announces a body over `max_bytes` (Content-Length)."""
    declared = dict(scope["headers"]).get(b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > max_bytes


def too_large_detail(max_bytes: int) -> str:
    """The 413 problem's detail."""
    return f"Request bodies are limited to {max_bytes} bytes."


class BodyLimitMiddleware:
    """Answer 413 before reading a body whose Content-Length is too big, and stop reading a chunked one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope, self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, detail=too_large_detail(self.max_bytes), instance=scope["path"])
        await response(scope, receive, send)


class _TooLarge(HTTPException):
    # An HTTPException: FastAPI turns any other error raised while it reads a body into a 400, but lets these
    # through to the app's handler, which renders the 413 problem.
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, detail=too_large_detail(max_bytes))
