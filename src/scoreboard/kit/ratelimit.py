"""Sliding-window limits in one Redis script: never more than `limit` events in any `window`."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Literal

from scoreboard.kit.pipelined import Pipelined

# KEYS[1] is the seed's counter key (a STRING holding the count in the current window, expiring when the
# oldest event leaves it), so `GET` / `TTL rate_limit:...` from the seed still answer; KEYS[2] is the log
# of event times (a ZSET) that makes the window exact instead of the fixed window's 2x edge burst.
# Server time (TIME) keeps every instance on one clock.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local mode = ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[2])
local allowed = 0
if count < limit then allowed = 1 end
if mode == 'record' or (mode == 'hit' and allowed == 1) then
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  count = count + 1
end
local rejected = 0
if mode == 'hit' and allowed == 0 then
  rejected = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], window)
end
local reset = 0
if count > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  reset = tonumber(oldest[2]) + window - now
  if reset < 1 then reset = 1 end
  redis.call('PEXPIRE', KEYS[2], window)
  redis.call('SET', KEYS[1], count, 'PX', reset)
else
  redis.call('DEL', KEYS[1])
end
return {allowed, count, reset, rejected}
"""

# Undo one admitted event (its request failed before doing anything): drop it from the log, recount.
_REFUND = """
redis.call('ZREM', KEYS[2], ARGV[1])
local count = redis.call('ZCARD', KEYS[2])
if count == 0 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], count, 'KEEPTTL') end
return count
"""

Mode = Literal["hit", "peek", "record"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one limit check."""

    allowed: bool
    count: int
    limit: int
    reset_ms: int
    rejected: int = 0
    key: str = ""
    member: str = ""

    @property
    def attempts(self) -> int:
        """Attempts in the current window, refused ones included (for the audit)."""
        return self.count + self.rejected

    @property
    def remaining(self) -> int:
        """Events still allowed in the current window."""
        return max(self.limit - self.count, 0)

    @property
    def retry_after(self) -> int:
        """Whole seconds until one more event is allowed."""
        return max(math.ceil(self.reset_ms / 1000), 1)

    def headers(self) -> dict[str, str]:
        """RateLimit-* response headers (IETF draft): the limit, what is left, seconds until a slot frees."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.retry_after if self.count else 0),
        }


class SlidingWindow:
    """A limiter whose script is loaded once and then called by SHA."""

    def __init__(self, redis: Pipelined) -> None:
        self._redis = redis
        self._script = redis.register_script(_SCRIPT)
        self._refund = redis.register_script(_REFUND)

    async def check(self, key: str, *, limit: int, window_seconds: float, mode: Mode = "hit") -> Verdict:
        """Check `key` against `limit`; `hit` also counts an allowed event, `record` counts it regardless."""
        window_ms = int(window_seconds * 1000)
        member = secrets.token_hex(8)
        allowed, count, reset, rejected = await self._script(
            keys=[key, f"{key}:log", f"{key}:rejected"], args=[window_ms, limit, mode, member]
        )
        return Verdict(bool(int(allowed)), int(count), limit, int(reset), int(rejected), key, member)

    async def refund(self, verdict: Verdict) -> None:
        """Give back the slot an admitted event took."""
        if verdict.allowed and verdict.member:
            await self._refund(keys=[verdict.key, f"{verdict.key}:log"], args=[verdict.member])

    async def clear(self, key: str) -> None:
        """Forget every event of `key`."""
        await self._redis.delete(key, f"{key}:log", f"{key}:rejected")
