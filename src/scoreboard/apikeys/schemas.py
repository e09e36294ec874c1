"""API keys on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from scoreboard.kit.schemas import Schema, StrictSchema

Scope = Literal["scores:write", "results:write"]


class ApiKeyCreate(StrictSchema):
    """A key to create."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    scopes: list[Scope] = Field(min_length=1, max_length=10)


class ApiKeyView(Schema):
    """A key as listed (the secret itself is never shown again)."""

    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyView):
    """A new key, with its secret shown this once."""

    key: str
