"""Users on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from pydantic import Field, field_validator

from scoreboard.auth.schemas import Email, Password, Username
from scoreboard.kit.schemas import Schema

METADATA_MAX_BYTES = 4096


class PrivateUser(Schema):
    """Everything a user may see about themself."""

    id: UUID
    username: str
    email: str
    role: str
    score: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime | None
    metadata: dict[str, Any]


class UserUpdate(Schema):
    """The fields a user may change; anything else is refused."""

    username: Username | None = None
    email: Email | None = None
    metadata: dict[str, Any] | None = Field(
        None, description=f"Any JSON object up to {METADATA_MAX_BYTES} bytes encoded, without NUL characters"
    )

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        try:
            encoded = orjson.dumps(value)
        except orjson.JSONEncodeError as exc:  # a TypeError, which pydantic would not turn into a 422
            raise ValueError(f"metadata cannot be stored as JSON: {exc}") from None
        if len(encoded) > METADATA_MAX_BYTES:
            raise ValueError(f"metadata must be at most {METADATA_MAX_BYTES} bytes of JSON")
        if _has_nul(value):
            raise ValueError("metadata must not contain NUL characters (PostgreSQL's jsonb cannot hold them)")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class PasswordChange(Schema):
    """Change the password; every session of the user ends."""

    current_password: str
    new_password: Password


class PublicProfile(Schema):
    """What anyone may see about a player."""

    id: UUID
    username: str
    score: int
    rank: int
    created_at: datetime
