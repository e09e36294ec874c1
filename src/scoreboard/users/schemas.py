"""Users on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, Field

from scoreboard.auth.schemas import Email, Password, Username
from scoreboard.kit.schemas import Schema, storable_json

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
    metadata: Annotated[dict[str, Any], AfterValidator(storable_json(METADATA_MAX_BYTES))] | None = Field(
        None, description=f"Any JSON object up to {METADATA_MAX_BYTES} bytes encoded, without NUL characters"
    )


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
