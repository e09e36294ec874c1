"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID


@dataclass(frozen=True)
class Principal:
    """A player or admin (from an access token) or a trusted server (from an API key)."""

    kind: Literal["user", "api_key"]
    user_id: UUID | None = None
    role: str | None = None
    session_id: UUID | None = None
    api_key_id: UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
