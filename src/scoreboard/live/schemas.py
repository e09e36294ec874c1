"""Live board responses."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scoreboard.kit.schemas import Schema
from scoreboard.live.hub import MAX_LIMIT


class StreamTicket(Schema):
    """A one-use credential for `?ticket=` on the live streams."""

    ticket: str
    expires_in: int = Field(description="Seconds the ticket stays valid")


class StreamQuery(BaseModel):
    """The query of `GET /api/leaderboard/stream`, validated where the stream is served (before routing)."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(10, ge=1, le=MAX_LIMIT)
    ticket: str | None = Field(None, max_length=200)
    last_event_id: str | None = Field(None, alias="lastEventId", max_length=20)
