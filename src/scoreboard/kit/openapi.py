"""The OpenAPI document as the app answers: every error is a problem+json document, and every status is listed."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from scoreboard.kit.problems import PROBLEM_MEDIA_TYPE, ProblemError

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. A 422 lists what failed validation in `errors`.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
                "required": ["loc", "msg", "type"],
            },
        },
    },
    "required": ["type", "title", "status"],
}
# Answers any operation of that kind may give, documented once here rather than on every route; a route's own
# `responses=` (see `answers`) says more where it knows more.
SECURED = {
    "400": "Both a bearer token and an API key were sent",
    "401": "Missing, invalid, expired or revoked credentials",
    "403": "The credentials lack the role or scope",
}
WITH_BODY = {"413": "Content Too Large: the body is over `SCOREBOARD_MAX_BODY_BYTES`"}
# Stores are reached through a dependency: an operation without one (a liveness probe) cannot fail this way, unless
# its route says `responses=STORES` (the hottest reads take the request rather than solve dependencies).
WITH_STORES = {"503": "PostgreSQL or Redis is unavailable; nothing was changed. Retry after `Retry-After`"}
STORES: dict[int | str, dict[str, Any]] = {code: {"description": text} for code, text in WITH_STORES.items()}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def answers(*errors: tuple[type[ProblemError], str]) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: the domain errors it raises (their status comes with them), each with when."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error, when in errors:
        entry = responses.setdefault(error.status, {"description": ""})
        entry["description"] = f"{entry['description']}; {when}" if entry["description"] else when
    return responses


def install_problem_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` describe error responses as the problem handlers render them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _describe_problems(generate(), _operations_with_dependencies(app))
        return app.openapi_schema  # type: ignore[return-value]  # set by `generate`

    app.openapi = openapi  # type: ignore[method-assign]


def _operations_with_dependencies(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation that has a dependency, as the document spells them."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.dependant.dependencies:
            found |= {(str(context.path_format), method.lower()) for method in context.methods or ()}
    return found


def _describe_problems(spec: dict[str, Any], with_dependencies: set[tuple[str, str]]) -> None:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            extra = {
                **(SECURED if operation.get("security") else {}),
                **(WITH_BODY if "requestBody" in operation else {}),
                **(WITH_STORES if (path, method) in with_dependencies else {}),
            }
            for code, description in extra.items():
                responses.setdefault(code, {"description": description})
            operation["responses"] = dict(sorted(responses.items()))
            for code, response in responses.items():
                if code[0] in "45":
                    # FastAPI documents its 422 as application/json; the app answers every error as problem+json.
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in _FASTAPI_ERRORS:  # in this order: the first refers to the second
        if f'"#/components/schemas/{name}"' not in json.dumps(spec):
            schemas.pop(name, None)
