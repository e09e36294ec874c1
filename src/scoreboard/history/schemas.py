"""Score history, player statistics and rate-limit violations on the wire."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from scoreboard.kit.schemas import Schema


class HistoryEntry(Schema):
    """One award, as the seed's queries 5 and 8 show it."""

    id: int
    action_id: str
    action_name: str | None = Field(description="The action's display name; null if the action is gone")
    points_awarded: int
    reason: str | None
    balance_before: int
    balance_after: int
    created_at: datetime


class HistoryPage(Schema):
    """Awards, newest first; pass `nextCursor` back as `cursor` for the next page (null: no more)."""

    items: list[HistoryEntry]
    limit: int
    next_cursor: str | None


class UserStats(Schema):
    """A player's totals over their whole history (the seed's query 7)."""

    total_actions: int
    total_points: int
    average_points: float | None = Field(description="Mean points per action, 2 decimals; null without actions")
    best_single_action: int | None = Field(description="The most points one action gave")
    last_action: HistoryEntry | None


class Violation(Schema):
    """One request refused by a rate limit, from `rate_limit_audit`."""

    id: int
    user_id: UUID
    username: str
    endpoint: str
    attempt_count: int
    limit_exceeded: bool
    ip_address: str | None
    created_at: datetime


class ViolationPage(Schema):
    """Violations, newest first; pass `nextCursor` back as `cursor` for the next page (null: no more)."""

    items: list[Violation]
    limit: int
    next_cursor: str | None
