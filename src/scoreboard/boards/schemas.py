"""Boards on the wire: the catalog, a period's standings, a player's standing on a board."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from scoreboard.boards.periods import VALUE_LIMIT, BoardKind, Keep, Kind, Sort
from scoreboard.kit.schemas import Schema, StrictSchema
from scoreboard.leaderboard.schemas import BoardEntry, UserRank
from scoreboard.scores.schemas import ActionId

BOARD_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
BoardId = Annotated[str, StringConstraints(pattern=BOARD_ID)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
Description = Annotated[str, StringConstraints(max_length=2000)]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Paris)") from exc
    return name


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_zone),
    Field(description="IANA time zone of the period boundaries (weeks start on Monday)"),
]
Actions = Annotated[
    list[ActionId], Field(min_length=1, max_length=100, description="Actions that count (null or absent: every one)")
]
Instant = Annotated[datetime, Field(strict=False)]
Bound = Annotated[
    int,
    Field(
        ge=-VALUE_LIMIT,
        le=VALUE_LIMIT,
        description="A result board's inclusive bound on values (null: ±(2^53 - 1), what Redis ranks exactly)",
    ),
]


class BoardView(Schema):
    """A board and its current period."""

    id: str
    name: str
    description: str | None
    period: Kind
    time_zone: str
    starts_at: datetime | None = Field(description="A season's start (inclusive)")
    ends_at: datetime | None = Field(description="A season's end (exclusive)")
    actions: list[str] | None = Field(description="Actions that count; null: every one")
    is_active: bool
    kind: BoardKind = Field(description="`points`: adds up awarded points; `result`: a trusted server's results")
    sort: Sort = Field(description="`desc`: the highest value ranks first; `asc`: the lowest (result boards)")
    keep: Keep = Field(description="Per player and period: the `best` result or the `latest` (result boards)")
    min_value: int | None
    max_value: int | None
    current_period: str = Field(description="The key of the period awards count in now")
    current_period_starts_at: datetime | None
    current_period_ends_at: datetime | None


class BoardList(Schema):
    """The boards."""

    boards: list[BoardView]


class BoardCreate(StrictSchema):
    """A new board; it counts awards from now on (`scoreboard boards backfill` counts the past)."""

    id: BoardId
    name: Name
    description: Description | None = None
    period: Kind
    time_zone: TimeZone = "UTC"
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    actions: Actions | None = None
    kind: BoardKind = "points"
    sort: Sort = "desc"
    keep: Keep = "best"
    min_value: Bound | None = None
    max_value: Bound | None = None

    @model_validator(mode="after")
    def _season(self) -> BoardCreate:
        if self.kind == "points":
            if self.sort != "desc" or self.keep != "best" or self.min_value is not None or self.max_value is not None:
                raise ValueError("sort, keep, minValue and maxValue are for result boards (kind: result)")
        elif self.actions is not None:
            raise ValueError("a result board ranks submitted results: it has no actions")
        if self.min_value is not None and self.max_value is not None and self.max_value < self.min_value:
            raise ValueError("maxValue must be at least minValue")
        if self.period == "season":
            if self.starts_at is None or self.ends_at is None:
                raise ValueError("a season needs startsAt and endsAt")
        elif self.starts_at is not None or self.ends_at is not None:
            raise ValueError("only a season has startsAt and endsAt")
        if self.starts_at is not None and self.starts_at.tzinfo is None:
            raise ValueError("startsAt needs a UTC offset")
        if self.ends_at is not None and self.ends_at.tzinfo is None:
            raise ValueError("endsAt needs a UTC offset")
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("endsAt must be after startsAt")
        return self


class BoardPatch(StrictSchema):
    """Changes to a board; which actions count and the time zone apply to future awards only."""

    name: Name | None = None
    description: Description | None = None
    time_zone: TimeZone | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    actions: Actions | None = None
    is_active: bool | None = None
    min_value: Bound | None = None
    max_value: Bound | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_for_required(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in ("name", "timeZone", "isActive", "startsAt", "endsAt"):
                if field in data and data[field] is None:
                    raise ValueError(f"{field} cannot be null")
        return data


class ResultEntry(BoardEntry):
    """A ranked player of a result board: `score` is their value."""

    metadata: dict[str, Any] | None = Field(description="The metadata of the submission that is their standing")


class PeriodPage(Schema):
    """A period's ranked players, a page at a time."""

    board_id: str
    period: str
    period_starts_at: datetime | None
    period_ends_at: datetime | None
    entries: list[BoardEntry | ResultEntry] = Field(description="Result boards' entries carry `metadata` too")
    total_players: int
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one")


class PeriodSubset(PeriodPage):
    """The ranked ones among the requested players, in board order."""

    missing: list[UUID]


class BoardRank(UserRank):
    """One player's standing on a board's period."""

    board_id: str
    period: str


class Backfilled(Schema):
    """What a backfill wrote."""

    board_id: str
    standings: int = Field(description="(period, player) standings recounted from score_history")
