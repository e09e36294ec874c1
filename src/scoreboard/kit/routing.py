"""Every route's request class (a body that is not JSON, whatever way it fails, is the same 422); path segments."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.convertors import StringConvertor, register_url_convertor

# The convertor of an id beside named sibling routes: `/api/users/{user_id:id}` never takes `me` or `scores`.
ID = "id"


class JsonRequest(Request):
    """A request whose `json()` fails only with `JSONDecodeError`, which FastAPI answers as a 422 `json_invalid`."""

    async def json(self) -> Any:
        """Parse the body as the standard library does (exact integers; a UTF-8 byte order mark is skipped)."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body)
            except (UnicodeDecodeError, RecursionError) as exc:
                # Bytes that are not UTF-8, or nesting past the decoder's depth: not JSON this service can read.
                # FastAPI turns these into a 400 of its own; as a JSONDecodeError they are the usual 422.
                where = exc.start if isinstance(exc, UnicodeDecodeError) else 0
                raise json.JSONDecodeError(str(exc), body.decode(errors="replace"), where) from exc
        return self._json


class Route(APIRoute):
    """An API route that hands its endpoint a `JsonRequest` (FastAPI's documented seam for a custom request)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The handler FastAPI builds, given a `JsonRequest`."""
        handler = super().get_route_handler()

        async def json_request_handler(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return json_request_handler


class IdConvertor(StringConvertor):
    """A path segment that is not a bare lowercase word: those name sibling routes (`me`, `scores`), never an id.

    Without it `GET /api/users/scores` would be `GET /api/users/{user_id}` with a malformed id (a 422) rather
    than the 405 of `POST /api/users/scores`. Anything else still reaches the route, whose validation says 422.
    """

    # A lookahead rather than "[^/]*[^a-z/][^/]*", whose backtracking is quadratic in a long segment.
    regex = "(?![a-z]+(?:/|$))[^/]+"


register_url_convertor(ID, IdConvertor())
