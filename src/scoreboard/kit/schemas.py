"""The base of every request and response model: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Schema(BaseModel):
    """A JSON body: camelCase names, no unknown fields (no mass assignment)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StrictSchema(Schema):
    """A JSON body taken as typed: `"10"`, `10.0` and `true` are not integers, `0` and `"true"` are not booleans.

    Bodies are validated from parsed JSON (Python objects), where strict mode also refuses a string for a UUID or
    a datetime: give such a field `Field(strict=False)`, since JSON has no other way to carry them.
    """

    model_config = ConfigDict(strict=True)


def storable_json(max_bytes: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Build a validator of a JSON object PostgreSQL's jsonb takes: encodable, at most `max_bytes`, no NUL."""

    def check(value: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError as exc:  # a TypeError, which pydantic would not turn into a 422
            raise ValueError(f"metadata cannot be stored as JSON: {exc}") from None
        if len(encoded) > max_bytes:
            raise ValueError(f"metadata must be at most {max_bytes} bytes of JSON")
        if _has_nul(value):
            raise ValueError("metadata must not contain NUL characters (PostgreSQL's jsonb cannot hold them)")
        return value

    return check


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
