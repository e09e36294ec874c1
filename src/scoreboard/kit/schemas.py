"""The base of every request and response model: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

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
