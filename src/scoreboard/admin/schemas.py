"""Admin views of users."""

from __future__ import annotations

from scoreboard.kit.schemas import Schema
from scoreboard.users.schemas import PrivateUser


class UserPage(Schema):
    """One page of users."""

    items: list[PrivateUser]
    total: int
    limit: int
    offset: int
