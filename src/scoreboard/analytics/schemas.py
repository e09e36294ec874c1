"""Analytics reports: a window (`days`, `since`) and its rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scoreboard.kit.schemas import Schema


class Window(Schema):
    """The period a report covers: from `since` up to when it was computed; `row` is the type of its items."""

    row: ClassVar[type[Schema]]

    days: int
    since: datetime


class TopAction(Schema):
    """How often an action was awarded in the window (seed query 6)."""

    action_id: str
    action_name: str | None
    frequency: int
    total_points: int


class TopActions(Window):
    """The most frequent actions, most frequent first."""

    row: ClassVar[type[Schema]] = TopAction

    items: list[TopAction]


class Day(Schema):
    """One UTC day of awards (seed query 11)."""

    day: date
    active_users: int
    actions: int
    total_points: int
    avg_points: float
    max_points: int


class Daily(Window):
    """Days with awards, newest first; `since` is a UTC midnight, so every day is whole."""

    row: ClassVar[type[Schema]] = Day

    items: list[Day]


class SignupDay(Schema):
    """Users who signed up on one UTC day and their scores today (seed query 12)."""

    signup_date: date
    new_users: int
    total_score: int


class Growth(Window):
    """Days with sign-ups, newest first; `since` is a UTC midnight, so every day is whole."""

    row: ClassVar[type[Schema]] = SignupDay

    items: list[SignupDay]


class Performer(Schema):
    """An active player and what they earned in the window (seed query 13)."""

    user_id: UUID
    username: str
    current_score: int
    recent_points: int
    recent_actions: int


class TopPerformers(Window):
    """Active players who earned points in the window, most points first."""

    row: ClassVar[type[Schema]] = Performer

    items: list[Performer] = Field(description="Players without awards in the window are left out")


Report = TopActions | Daily | Growth | TopPerformers
