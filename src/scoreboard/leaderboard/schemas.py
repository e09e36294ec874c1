"""Leaderboard responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from scoreboard.kit.schemas import Schema


class BoardEntry(Schema):
    """One ranked player."""

    rank: int
    user_id: UUID
    username: str | None
    score: int


class BoardPage(Schema):
    """Ranked players and the number of ranked players."""

    entries: list[BoardEntry]
    total_players: int
    generated_at: datetime


class UserRank(Schema):
    """One player's standing."""

    user_id: UUID
    username: str | None
    score: int
    rank: int
    total_players: int
    percentile: float = Field(description="Share of ranked players below this one, in percent")


class RankRequest(Schema):
    """Players to rank together (a friends board)."""

    user_ids: Annotated[list[UUID], Field(min_length=1, max_length=100)]


class RankedSubset(BoardPage):
    """The ranked ones among the requested players, in board order."""

    missing: list[UUID]


class UserScore(Schema):
    """A player's score."""

    user_id: UUID
    score: int


class ScoreBatch(Schema):
    """Scores of several players; unknown or inactive ones are left out."""

    scores: dict[UUID, int]
