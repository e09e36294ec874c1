"""Opaque keyset cursors: base64url of a row's (created_at, id), checked strictly on the way back in."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from scoreboard.kit.problems import Unprocessable

BIGINT_MAX = 2**63 - 1
# What a cursor looks like on the wire; the query parameter is refused (422) before decoding otherwise.
PATTERN = r"^[A-Za-z0-9_-]{1,100}$"


@dataclass(frozen=True)
class Cursor:
    """The position after which the next page starts: the last row served, in (created_at, id) order."""

    created_at: datetime
    id: int


def encode(created_at: datetime, row_id: int) -> str:
    """Return the opaque cursor for the row at (created_at, id)."""
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> Cursor:
    """Parse a cursor made by `encode`; anything else is a 422 naming the parameter."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
        stamp, _, number = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
        row_id = int(number)
        # A naive time would be read in the server's zone, an id beyond bigint would fail in the driver: refuse both.
        if created_at.tzinfo is None or not 0 < row_id <= BIGINT_MAX or not number.isdigit():
            raise _invalid()
        created_at = in_utc(created_at)
    except (binascii.Error, ValueError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise _invalid() from exc
    return Cursor(created_at, row_id)


def in_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a time the database cannot hold (year 1 in a zone east of UTC, year 9999 west) is refused."""
    # PostgreSQL stores timestamptz in UTC: 0001-01-01T00:00+05:00 would be year 0 there, and the driver fails.
    return moment.astimezone(UTC)


def _invalid() -> Unprocessable:
    return Unprocessable(
        "The cursor is not valid; pass the nextCursor of a previous page unchanged.",
        errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
    )
