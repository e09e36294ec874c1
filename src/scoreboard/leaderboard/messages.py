"""The board's message: `score_update` on `leaderboard:updates` (the seed's format), and the rows boards carry."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from scoreboard.kit.schemas import Schema
from scoreboard.leaderboard.board import Page
from scoreboard.leaderboard.schemas import BoardEntry


class BoardStanding(Schema):
    """The award's effect on another board it counts on: the player's score and rank in that board's period."""

    board_id: str
    period: str
    score: int
    rank: int
    previous_score: int = Field(description="What that period held for the player before the award")


class ScoreUpdateMessage(Schema):
    """One award as the board publishes it (built in Lua by `scripts.APPLY_AWARD`; tests hold the two together)."""

    type: Literal["score_update"]
    user_id: UUID
    new_score: int
    score_change: int
    action_id: str
    rank: int = Field(description="The awarded player's rank after the award")
    timestamp: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    leaderboard: list[BoardEntry] = Field(description="The top of the board after the award")
    previous_score: int = Field(description="What the board held for the player before (ours, beyond the seed)")
    event_id: int = Field(description="Consecutive per board: a gap means events were missed")
    boards: list[BoardStanding] | None = Field(
        default=None, description="Every other board the award counts on (absent when none)"
    )


def rows(page: Page) -> list[dict[str, Any]]:
    """A page's rows in the message's shape (the seed's `leaderboard` items)."""
    return [
        BoardEntry(rank=e.rank, user_id=e.user_id, username=e.username, score=e.score).model_dump(
            mode="json", by_alias=True
        )
        for e in page.entries
    ]


def board_update(award: dict[str, Any], standing: dict[str, Any], top: Page) -> dict[str, Any]:
    """The fields of an award's `score_update` on another board's period (`standing`: one of its `boards`)."""
    # The seed's fields, with the player's score, rank and previous score on that board, and that board's top.
    return {
        "userId": award.get("userId"),
        "newScore": standing.get("score"),
        "scoreChange": award.get("scoreChange"),
        "actionId": award.get("actionId"),
        "rank": standing.get("rank"),
        "timestamp": award.get("timestamp"),
        "leaderboard": rows(top),
        "previousScore": standing.get("previousScore"),
    }


def rank_after(rank: int, score: int, *, before: int, after: int) -> int:
    """A player's rank (at `score`) once another player moved from `before` to `after` points (scores only rise)."""
    # Competition ranking counts players strictly higher: the mover now counts if it passed this score.
    return rank + 1 if before <= score < after else rank
