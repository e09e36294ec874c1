"""A per-process cache of validated API keys: the hot award path skips one PostgreSQL round trip per request."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar
from uuid import UUID

T = TypeVar("T")


class KeyCache(Generic[T]):
    """Key digest -> what it resolved to, for `ttl` seconds; at most `size` entries (least recently used go)."""

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, UUID, T]] = OrderedDict()

    def get(self, digest: bytes) -> T | None:
        """What `digest` resolved to, if resolved less than `ttl` seconds ago."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return entry[2]

    def put(self, digest: bytes, key_id: UUID, value: T) -> None:
        """Remember a key that PostgreSQL just confirmed as live (not a refused one: those always ask again)."""
        if self.ttl <= 0:
            return
        self._entries[digest] = (time.monotonic() + self.ttl, key_id, value)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key_id: UUID) -> None:
        """Drop a key at once (it was revoked through this process)."""
        for digest in [d for d, (_, kid, _) in self._entries.items() if kid == key_id]:
            del self._entries[digest]
