"""The OpenAPI document as the app answers: every error is a problem+json document, and the usual ones are listed."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from scoreboard.kit.problems import PROBLEM_MEDIA_TYPE

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
# Answers any operation of that kind may give, documented once here rather than on every route.
SECURED = {"401": "Missing, invalid or expired credentials", "403": "The credentials lack the role or scope"}
WITH_BODY = {"413": "Content Too Large: the body is over `SCOREBOARD_MAX_BODY_BYTES`"}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def install_problem_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` describe error responses as the problem handlers render them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _describe_problems(generate())
        return app.openapi_schema  # type: ignore[return-value]  # set by `generate`

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_problems(spec: dict[str, Any]) -> None:
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            extra = {
                **(SECURED if operation.get("security") else {}),
                **(WITH_BODY if "requestBody" in operation else {}),
            }
            for code, description in extra.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45":
                    # FastAPI documents its 422 as application/json; the app answers every error as problem+json.
                    response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in _FASTAPI_ERRORS:  # in this order: the first refers to the second
        if f'"#/components/schemas/{name}"' not in json.dumps(spec):
            schemas.pop(name, None)
