"""The base of every request and response model: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Schema(BaseModel):
    """A JSON body: camelCase names, no unknown fields (no mass assignment)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
