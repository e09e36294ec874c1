"""Score updates on the wire."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import StringConstraints

from scoreboard.kit.schemas import Schema

ActionId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ScoreUpdate(Schema):
    """A report that an action was completed; the points come from the action catalog, never the client."""

    action_id: ActionId
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    user_id: UUID | None = None  # trusted servers only: whom to award


class ScoreAwarded(Schema):
    """The award, as committed."""

    user_id: UUID
    new_score: int
    score_change: int
    action_id: str
    rank: int | None
    history_id: int
    timestamp: str
