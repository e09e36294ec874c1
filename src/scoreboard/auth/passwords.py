"""bcrypt hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import functools

import bcrypt

MAX_BYTES = 72  # bcrypt reads no further


def hash_password_sync(password: str, rounds: int) -> str:
    """Hash `password` with a fresh salt (blocking)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


async def hash_password(password: str, rounds: int) -> str:
    """Hash `password` in a worker thread."""
    return await asyncio.to_thread(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check `password`; with no hash, spend the same time on a dummy so unknown users look like wrong passwords."""
    target = password_hash or _dummy_hash(rounds)
    candidate = _checkable(password)
    # A password bcrypt refuses (over 72 bytes, a NUL, a lone surrogate) was never stored: registration refuses
    # it. Check a stand-in instead, so it costs the same time as any wrong password.
    ok = await asyncio.to_thread(bcrypt.checkpw, candidate or b"not-a-real-password", target.encode())
    return ok and candidate is not None and password_hash is not None


def _checkable(password: str) -> bytes | None:
    try:
        encoded = password.encode()
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) <= MAX_BYTES and b"\x00" not in encoded else None


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return hash_password_sync("not-a-real-password", rounds)
