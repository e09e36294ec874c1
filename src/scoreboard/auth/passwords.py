"""bcrypt hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import functools

import bcrypt


def hash_password_sync(password: str, rounds: int) -> str:
    """Hash `password` with a fresh salt (blocking)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


async def hash_password(password: str, rounds: int) -> str:
    """Hash `password` in a worker thread."""
    return await asyncio.to_thread(hash_password_sync, password, rounds)


async def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check `password`; with no hash, spend the same time on a dummy so unknown users look like wrong passwords."""
    target = password_hash or _dummy_hash(rounds)
    ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), target.encode())
    return ok and password_hash is not None


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return hash_password_sync("not-a-real-password", rounds)
