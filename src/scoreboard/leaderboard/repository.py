"""Redis access for the board: apply an award and publish it, in one script."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio import Redis

from scoreboard.leaderboard import keys

# Scores only grow, so every write is an absolute "only if greater": replays, retries and out-of-order
# writers converge. Ranks are competition ranks (1 + members with a strictly higher score); ties in the
# top N are ordered by who reached the score first (leaderboard:reached), then by id.
_APPLY_AWARD = """
local board, cache, names, reached, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local uid, score, top_n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[8])
if redis.call('ZADD', board, 'GT', 'CH', score, uid) == 1 then
  redis.call('HSET', reached, uid, ARGV[6])
end
local cached = tonumber(redis.call('GET', cache) or '-1')
if score >= cached then
  redis.call('SET', cache, score, 'EX', tonumber(ARGV[9]))
end
if ARGV[7] ~= '' then redis.call('HSET', names, uid, ARGV[7]) end
local current = tonumber(redis.call('ZSCORE', board, uid))
local rank = redis.call('ZCOUNT', board, '(' .. current, '+inf') + 1

local raw = redis.call('ZREVRANGE', board, 0, top_n - 1, 'WITHSCORES')
local entries, seen = {}, {}
for i = 1, #raw, 2 do
  entries[#entries + 1] = {raw[i], tonumber(raw[i + 1])}
  seen[raw[i]] = true
end
if #entries == top_n then
  -- Members tied with the last place may belong in the top N by reach time: consider them all.
  local last = entries[#entries][2]
  local ties = redis.call('ZREVRANGEBYSCORE', board, last, last, 'WITHSCORES', 'LIMIT', 0, 1000)
  for i = 1, #ties, 2 do
    if not seen[ties[i]] then entries[#entries + 1] = {ties[i], tonumber(ties[i + 1])} end
  end
end
local ids = {}
for i, e in ipairs(entries) do ids[i] = e[1] end
local when = #ids > 0 and redis.call('HMGET', reached, unpack(ids)) or {}
for i, e in ipairs(entries) do e[3] = tonumber(when[i] or '0') or 0 end
table.sort(entries, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  if a[3] ~= b[3] then return a[3] < b[3] end
  return a[1] < b[1]
end)
local top, shown = {}, math.min(top_n, #entries)
local shown_ids = {}
for i = 1, shown do shown_ids[i] = entries[i][1] end
local usernames = shown > 0 and redis.call('HMGET', names, unpack(shown_ids)) or {}
local place = 1
for i = 1, shown do
  if i > 1 and entries[i][2] < entries[i - 1][2] then place = i end
  top[i] = {rank = place, userId = entries[i][1], score = entries[i][2], username = usernames[i] or cjson.null}
end
local event_id = redis.call('INCR', seq)
local message = cjson.encode({
  type = 'score_update', userId = uid, newScore = current, scoreChange = tonumber(ARGV[3]),
  actionId = ARGV[4], rank = rank, timestamp = ARGV[5], leaderboard = top, eventId = event_id
})
redis.call('PUBLISH', KEYS[6], message)
return {rank, event_id, message}
"""


def iso_seconds(at: datetime) -> str:
    """Format a time the way the seed's messages do: 2025-12-11T10:30:45Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Applied:
    """What the board says after an award."""

    rank: int
    event_id: int
    message: dict[str, object]


class Board:
    """The leaderboard's Redis side; its script is loaded once and called by SHA."""

    def __init__(self, redis: Redis, top_n: int = 10) -> None:
        self.redis = redis
        self.top_n = top_n
        self._apply = redis.register_script(_APPLY_AWARD)

    async def apply_award(
        self,
        *,
        user_id: UUID,
        username: str,
        new_score: int,
        score_change: int,
        action_id: str,
        at: datetime,
    ) -> Applied:
        """Raise the user on the board (never lower), refresh the cache, publish the seed's message."""
        rank, event_id, message = await self._apply(
            keys=[
                keys.BOARD,
                keys.score_cache(user_id),
                keys.USERNAMES,
                keys.REACHED,
                keys.SEQUENCE,
                keys.UPDATES,
            ],
            args=[
                str(user_id),
                new_score,
                score_change,
                action_id,
                iso_seconds(at),
                int(at.timestamp() * 1000),
                username,
                self.top_n,
                keys.SCORE_TTL_SECONDS,
            ],
        )
        return Applied(int(rank), int(event_id), json.loads(message))
