"""Credentials on the wire, with the account rules: username, e-mail, password."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from scoreboard.auth.passwords import MAX_BYTES
from scoreboard.kit.schemas import Schema

# The seed's CHECK constraint, checked here first so the client gets a 422 instead of a database error.
_SEED_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}")
USERNAME_MIN, USERNAME_MAX = 3, 32
_USERNAME = re.compile(rf"[A-Za-z0-9_.-]{{{USERNAME_MIN},{USERNAME_MAX}}}")


def _username(value: str) -> str:
    if not _USERNAME.fullmatch(value):
        raise ValueError(f"username must be {USERNAME_MIN}-{USERNAME_MAX} characters of A-Z, a-z, 0-9, '_', '.', '-'")
    return value


def _email(value: str) -> str:
    if len(value) > 255 or not _SEED_EMAIL.fullmatch(value):
        raise ValueError("email is not a valid address")
    return value.lower()


def _password(value: str) -> str:
    size = len(value.encode())
    # bcrypt reads only the first 72 bytes: a longer password would be silently truncated.
    if size < 8 or size > MAX_BYTES:
        raise ValueError(f"password must be 8 to {MAX_BYTES} bytes in UTF-8 (this one is {size})")
    if "\x00" in value:
        raise ValueError("password must not contain NUL characters")
    return value


# The validators above say what is wrong in words; the schema states the same rules where JSON Schema can.
Username = Annotated[
    str,
    AfterValidator(_username),
    Field(
        json_schema_extra={
            "pattern": f"^{_USERNAME.pattern}$",
            "minLength": USERNAME_MIN,
            "maxLength": USERNAME_MAX,
        }
    ),
]
Email = Annotated[
    str,
    AfterValidator(_email),
    Field(
        description="Stored in lower case",
        json_schema_extra={"pattern": f"^{_SEED_EMAIL.pattern}$", "maxLength": 255},
    ),
]
# JSON Schema counts characters, the rule counts bytes: 72 characters is only the most any password can have.
Password = Annotated[
    str,
    AfterValidator(_password),
    Field(description=f"8 to {MAX_BYTES} bytes in UTF-8, no NUL character", json_schema_extra={"maxLength": MAX_BYTES}),
]


class RegisterRequest(Schema):
    """A new player's account."""

    username: Username
    email: Email
    password: Password


class LoginRequest(Schema):
    """Log in with a username or e-mail address."""

    login: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RefreshRequest(Schema):
    """Exchange a refresh token for a new pair (the old refresh token is spent)."""

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TokenPair(Schema):
    """Tokens after a login or refresh."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until the access token expires")


class WhoAmI(Schema):
    """Who the credentials on this request belong to."""

    kind: Literal["user", "api_key"]
    user_id: UUID | None = None
    role: str | None = None
    api_key_id: UUID | None = None
    scopes: list[str] = Field(default_factory=list)
