"""Live board responses."""

from __future__ import annotations

from pydantic import Field

from scoreboard.kit.schemas import Schema


class StreamTicket(Schema):
    """A one-use credential for `?ticket=` on the live streams."""

    ticket: str
    expires_in: int = Field(description="Seconds the ticket stays valid")
