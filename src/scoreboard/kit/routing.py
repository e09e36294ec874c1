"""Every route's request class (a body that is not JSON is the same 422), routes mounted flat, JSON answers, ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel
from starlette.convertors import StringConvertor, register_url_convertor
from starlette.routing import Route as StarletteRoute

from scoreboard.kit.plainroutes import plain_handler
from scoreboard.kit.ratelimit import Verdict

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
    """An API route that hands its endpoint a `JsonRequest` (FastAPI's documented seam for a custom request).

    A route whose endpoint takes only plain inputs, a JSON body and plain dependencies, and answers a `Response`,
    serves them itself (`kit.plainroutes`): FastAPI's solving of each parameter costs a hot route more than its work.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler or a plain one (`kit.plainroutes`), given a `JsonRequest` when the route reads a body."""
        handler = super().get_route_handler()
        plain = None if self.dependencies else plain_handler(self.endpoint, self.param_convertors, handler)
        chosen = plain or handler
        if self.body_field is None:  # nothing to parse: a second request object would only cost time
            return chosen

        async def json_request_handler(request: Request) -> Response:
            # One request object for both handlers: a plain one that hands over has read the body already.
            return await chosen(JsonRequest(request.scope, request.receive))

        return json_request_handler


def mount_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve the router's routes as the app's own, in their order (each keeps the prefix and tags it was made with)."""
    # `include_router` nests the router: FastAPI 0.165 matches a request against every included router's routes,
    # then matches the chosen one again to hand it over. The feature routers are plain lists of routes with no
    # include-time options, so the app's own route list holds them, and each request is matched once.
    for route in router.routes:
        if not isinstance(route, (APIRoute, APIWebSocketRoute, StarletteRoute)):
            raise TypeError(f"{route!r}: only routes can be mounted flat, not nested routers")
    app.router.routes.extend(router.routes)


def answer(body: BaseModel, headers: dict[str, str] | None = None, status_code: int = status.HTTP_200_OK) -> Response:
    """A model as the route's JSON answer, without FastAPI validating it a second time against the response model."""
    # The body's own JSON (camelCase, as the response model documents it).
    content = body.model_dump_json(by_alias=True)
    return Response(content, status_code=status_code, headers=headers, media_type="application/json")


def created(body: BaseModel, verdict: Verdict | None, replayed: bool) -> Response:
    """The 201 of an idempotent write: its rate-limit headers, and `Idempotent-Replayed` when a key answered again."""
    headers = verdict.headers() if verdict is not None else {}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return answer(body, headers, status.HTTP_201_CREATED)


class IdConvertor(StringConvertor):
    """A path segment that is not a bare lowercase word: those name sibling routes (`me`, `scores`), never an id.

    Without it `GET /api/users/scores` would be `GET /api/users/{user_id}` with a malformed id (a 422) rather
    than the 405 of `POST /api/users/scores`. Anything else still reaches the route, whose validation says 422.
    """

    # A lookahead rather than "[^/]*[^a-z/][^/]*", whose backtracking is quadratic in a long segment.
    regex = "(?![a-z]+(?:/|$))[^/]+"


register_url_convertor(ID, IdConvertor())
