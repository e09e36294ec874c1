"""Opaque keyset cursors: base64url of a row's (created_at, id), checked strictly on the way back in."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

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
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise _invalid() from exc
    # A naive time would be read in the server's zone, an id beyond bigint would fail in the driver: refuse both.
    if created_at.tzinfo is None or not 0 < row_id <= BIGINT_MAX or not number.isdigit():
        raise _invalid()
    return Cursor(created_at, row_id)


def _invalid() -> Unprocessable:
    return Unprocessable(
        "The cursor is not valid; pass the nextCursor of a previous page unchanged.",
        errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
    )
