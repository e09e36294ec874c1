"""A board's periods: the key an instant falls in, a key's bounds, `current` and `previous` (as SQL's board_period)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["all_time", "daily", "weekly", "monthly", "season"]
BoardKind = Literal["points", "result"]
Sort = Literal["desc", "asc"]
Keep = Literal["best", "latest"]
VALUE_LIMIT = 2**53 - 1  # Redis ranks doubles: past this, two different values could tie
GLOBAL = "global"
ALL = "all"  # the one period of an all-time board
SEASON = "season"  # the one period of a season
_FORMATS = {
    "daily": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "weekly": re.compile(r"^(\d{4})-W(\d{2})$"),
    "monthly": re.compile(r"^(\d{4})-(\d{2})$"),
}


@dataclass(frozen=True)
class Spec:
    """A board as the catalog holds it."""

    id: str
    name: str
    description: str | None
    period: Kind
    time_zone: str
    starts_at: datetime | None
    ends_at: datetime | None
    action_ids: tuple[str, ...] | None
    is_active: bool
    kind: BoardKind = "points"
    sort: Sort = "desc"
    keep: Keep = "best"
    min_value: int | None = None
    max_value: int | None = None

    @property
    def sign(self) -> int:
        """How a value orders on the board: -1 when the lowest ranks first (Redis and SQL order highest first)."""
        return -1 if self.kind == "result" and self.sort == "asc" else 1

    @property
    def zone(self) -> ZoneInfo:
        """The zone its period boundaries are in."""
        return ZoneInfo(self.time_zone)

    @property
    def rolls(self) -> bool:
        """Whether it has more than one period."""
        return self.period in ("daily", "weekly", "monthly")


@dataclass(frozen=True)
class Period:
    """One period of a board: its key and [starts_at, ends_at) (None: unbounded)."""

    key: str
    starts_at: datetime | None
    ends_at: datetime | None


def key_at(spec: Spec, at: datetime) -> str | None:
    """The period `at` counts in (None: outside a season), as PostgreSQL's board_period() says."""
    if spec.period == "all_time":
        return ALL
    if spec.period == "season":
        assert spec.starts_at is not None
        assert spec.ends_at is not None
        return SEASON if spec.starts_at <= at < spec.ends_at else None
    local = at.astimezone(spec.zone)
    if spec.period == "daily":
        return local.strftime("%Y-%m-%d")
    if spec.period == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return local.strftime("%Y-%m")


def _first_day(spec: Spec, key: str) -> date | None:
    match = _FORMATS[spec.period].match(key)
    if match is None:
        return None
    a, b = int(match[1]), int(match[2])
    try:
        if spec.period == "daily":
            return date(a, b, int(match[3]))
        if spec.period == "weekly":
            return date.fromisocalendar(a, b, 1)
        return date(a, b, 1)
    except ValueError:
        return None


def _next_first_day(spec: Spec, first: date) -> date:
    if spec.period == "daily":
        return first + timedelta(days=1)
    if spec.period == "weekly":
        return first + timedelta(weeks=1)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _midnight(day: date, spec: Spec) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=spec.zone).astimezone(UTC)


def period(spec: Spec, key: str) -> Period | None:
    """The period a key names on this board (None: the key is not one of its periods)."""
    if spec.period == "all_time":
        return Period(ALL, None, None) if key == ALL else None
    if spec.period == "season":
        return Period(SEASON, spec.starts_at, spec.ends_at) if key == SEASON else None
    first = _first_day(spec, key)
    if first is None:
        return None
    return Period(key, _midnight(first, spec), _midnight(_next_first_day(spec, first), spec))


def current(spec: Spec, now: datetime) -> Period:
    """The period awards count in now (a season's one period, even before it starts or after it ends)."""
    key = key_at(spec, now) or SEASON
    found = period(spec, key)
    assert found is not None
    return found


def previous(spec: Spec, now: datetime) -> Period | None:
    """The period before the current one (None: the board has only one)."""
    this = current(spec, now)
    if not spec.rolls or this.starts_at is None:
        return None
    key = key_at(spec, this.starts_at - timedelta(microseconds=1))
    return period(spec, key) if key is not None else None


def resolve(spec: Spec, name: str, now: datetime) -> Period | None:
    """`current`, `previous` or a period key on this board (None: no such period)."""
    if name == "current":
        return current(spec, now)
    if name == "previous":
        return previous(spec, now)
    return period(spec, name)
