"""URL helpers for tests."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def with_database(url: str, database: str) -> str:
    """Return `url` pointing at `database` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))
