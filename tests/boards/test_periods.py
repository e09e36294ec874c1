"""Period boundaries: PostgreSQL's board_period() and the Python twin agree at every edge, zones and DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scoreboard.boards import periods
from scoreboard.boards.periods import Spec


def spec(period: str, zone: str = "UTC", starts: datetime | None = None, ends: datetime | None = None) -> Spec:
    """A board of this kind."""
    return Spec("b", "B", None, period, zone, starts, ends, None, True)  # type: ignore[arg-type]


MS = timedelta(milliseconds=1)
UTC_MIDNIGHT = datetime(2026, 12, 4, tzinfo=UTC)
# Europe/Paris leaves summer time at 03:00 local on 2026-10-25 (a 25-hour day) and enters it on 2026-03-29 (23 h).
PARIS_LONG_DAY_START = datetime(2026, 10, 24, 22, tzinfo=UTC)
PARIS_LONG_DAY_END = datetime(2026, 10, 25, 23, tzinfo=UTC)
SEASON = (datetime(2026, 12, 1, 12, tzinfo=UTC), datetime(2026, 12, 15, 12, tzinfo=UTC))

CASES = [
    # (board, instant, expected period key)
    (spec("daily"), UTC_MIDNIGHT - MS, "2026-12-03"),  # 23:59:59.999 counts in the old day
    (spec("daily"), UTC_MIDNIGHT, "2026-12-04"),
    (spec("daily", "America/New_York"), UTC_MIDNIGHT, "2026-12-03"),  # 19:00 local
    (spec("daily", "Asia/Tokyo"), UTC_MIDNIGHT - timedelta(hours=9) - MS, "2026-12-03"),
    (spec("daily", "Asia/Tokyo"), UTC_MIDNIGHT - timedelta(hours=9), "2026-12-04"),
    (spec("daily", "Europe/Paris"), PARIS_LONG_DAY_START - MS, "2026-10-24"),
    (spec("daily", "Europe/Paris"), PARIS_LONG_DAY_START, "2026-10-25"),
    (spec("daily", "Europe/Paris"), PARIS_LONG_DAY_END - MS, "2026-10-25"),  # 25 hours later: still that day
    (spec("daily", "Europe/Paris"), PARIS_LONG_DAY_END, "2026-10-26"),
    (spec("daily", "Europe/Paris"), datetime(2026, 3, 29, 21, 59, 59, 999000, tzinfo=UTC), "2026-03-29"),  # 23 h
    (spec("daily", "Europe/Paris"), datetime(2026, 3, 29, 22, tzinfo=UTC), "2026-03-30"),
    # ISO weeks start on Monday: 2026-11-30 is a Monday; 2027-01-03 (a Sunday) is still in 2026-W53.
    (spec("weekly"), datetime(2026, 11, 30, tzinfo=UTC) - MS, "2026-W48"),
    (spec("weekly"), datetime(2026, 11, 30, tzinfo=UTC), "2026-W49"),
    (spec("weekly"), datetime(2027, 1, 3, 23, 59, tzinfo=UTC), "2026-W53"),
    (spec("weekly"), datetime(2027, 1, 4, tzinfo=UTC), "2027-W01"),
    (spec("weekly", "Europe/Paris"), datetime(2026, 11, 29, 23, tzinfo=UTC), "2026-W49"),  # Monday 00:00 in Paris
    (spec("monthly"), datetime(2027, 1, 1, tzinfo=UTC) - MS, "2026-12"),
    (spec("monthly"), datetime(2027, 1, 1, tzinfo=UTC), "2027-01"),
    (spec("monthly", "America/Los_Angeles"), datetime(2027, 1, 1, 7, 59, tzinfo=UTC), "2026-12"),
    (spec("all_time"), datetime(2001, 1, 1, tzinfo=UTC), "all"),
    (spec("season", starts=SEASON[0], ends=SEASON[1]), SEASON[0] - MS, None),  # before the start: not counted
    (spec("season", starts=SEASON[0], ends=SEASON[1]), SEASON[0], "season"),
    (spec("season", starts=SEASON[0], ends=SEASON[1]), SEASON[1] - MS, "season"),
    (spec("season", starts=SEASON[0], ends=SEASON[1]), SEASON[1], None),  # the end is exclusive
]


@pytest.mark.parametrize(
    ("board", "at", "expected"), CASES, ids=[f"{c[0].period}-{c[0].time_zone}-{c[1]}" for c in CASES]
)
async def test_postgresql_and_python_put_an_instant_in_the_same_period(
    db: asyncpg.Connection, board: Spec, at: datetime, expected: str | None
) -> None:
    """The award statement (SQL) and the reads (Python) agree on the period key, to the millisecond."""
    in_sql = await db.fetchval(
        "SELECT board_period($1, $2, $3, $4, $5)", board.period, board.time_zone, board.starts_at, board.ends_at, at
    )
    assert in_sql == expected
    assert periods.key_at(board, at) == expected


@pytest.mark.parametrize(("board", "at", "expected"), [c for c in CASES if c[2] not in (None, "all")])
async def test_a_period_starts_where_the_last_one_ends_and_postgresql_agrees_on_the_end(
    db: asyncpg.Connection, board: Spec, at: datetime, expected: str
) -> None:
    """Bounds: the period holds the instant; its end is where board_period_end() (Redis expiry) says."""
    found = periods.period(board, expected)
    assert found is not None
    assert found.starts_at is not None
    assert found.ends_at is not None
    assert found.starts_at <= at < found.ends_at
    assert periods.key_at(board, found.ends_at - MS) == expected
    assert periods.key_at(board, found.ends_at) != expected
    end = await db.fetchval("SELECT board_period_end($1, $2, $3, $4)", board.period, board.time_zone, board.ends_at, at)
    assert end == found.ends_at


def test_the_paris_day_that_leaves_summer_time_lasts_25_hours() -> None:
    """A period follows the zone's calendar, not a fixed 24 hours."""
    found = periods.period(spec("daily", "Europe/Paris"), "2026-10-25")
    assert found is not None
    assert found.starts_at is not None
    assert found.ends_at is not None
    assert found.ends_at - found.starts_at == timedelta(hours=25)


def test_previous_and_current_resolve_and_malformed_keys_do_not() -> None:
    """`previous` is the period before `current`; a key of another shape is no period of the board."""
    daily = spec("daily")
    now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert periods.resolve(daily, "current", now).key == "2026-12-01"  # type: ignore[union-attr]
    assert periods.resolve(daily, "previous", now).key == "2026-11-30"  # type: ignore[union-attr]
    weekly = spec("weekly")
    assert periods.resolve(weekly, "previous", datetime(2027, 1, 4, tzinfo=UTC)).key == "2026-W53"  # type: ignore[union-attr]
    assert periods.resolve(spec("monthly"), "previous", datetime(2027, 1, 5, tzinfo=UTC)).key == "2026-12"  # type: ignore[union-attr]
    for bad in ("2026-13-01", "2026-02-30", "2026-W54", "yesterday", "2026-12", "all"):
        assert periods.resolve(daily, bad, now) is None, bad
    assert periods.resolve(spec("all_time"), "previous", now) is None
    assert periods.resolve(spec("season", starts=SEASON[0], ends=SEASON[1]), "previous", now) is None
