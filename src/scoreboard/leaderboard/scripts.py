"""The board's Lua scripts: the rank rule and the `score_update` message in Redis.

KEYS[1..4] are always BOARD, RANKED, USERNAMES, REACHED (or their rebuild twins). The rank rule and the message are
written once here and nowhere else in Lua; their SQL and Python twins are in `repository.py` and `messages.py`, and
tests/leaderboard hold all three to one another.
"""

from __future__ import annotations

_PRELUDE = """
local BOARD, RANKED, NAMES, REACHED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- RANKED's members (keys.ranked builds the same in Python for bulk loads).
local function member(ms, uid) return string.format('%013d', 9999999999999 - ms) .. ':' .. uid end
local function uid_of(m) return string.sub(m, 15) end
-- Raise-only: scores never fall, so stale or repeated writes cannot undo newer ones. A score cache that exists
-- (the seed's user:{id}:score) follows the board; one that expired stays away until a read refills it.
-- Each of these three returns whether the member's score on the board changed.
local function raise(uid, score, ms, name, cache)
  local changed = redis.call('ZADD', BOARD, 'GT', 'CH', score, uid) == 1
  if changed then
    local old = redis.call('HGET', REACHED, uid)
    if old then redis.call('ZREM', RANKED, member(tonumber(old), uid)) end
    redis.call('HSET', REACHED, uid, ms)
    redis.call('ZADD', RANKED, score, member(ms, uid))
  end
  if name ~= '' then redis.call('HSET', NAMES, uid, name) end
  if cache then
    local cached = redis.call('GET', cache)
    if cached and tonumber(cached) < score then redis.call('SET', cache, score, 'KEEPTTL') end
  end
  return changed
end
-- Exact: what PostgreSQL says, even if lower (repairs, rebuilds).
local function exact(uid, score, ms, name, cache)
  local old = redis.call('HGET', REACHED, uid)
  if old then redis.call('ZREM', RANKED, member(tonumber(old), uid)) end
  local changed = redis.call('ZADD', BOARD, 'CH', score, uid) == 1
  redis.call('HSET', REACHED, uid, ms)
  redis.call('ZADD', RANKED, score, member(ms, uid))
  redis.call('HSET', NAMES, uid, name)
  if cache then redis.call('SET', cache, score, 'XX', 'KEEPTTL') end
  return changed
end
local function remove(uid, cache)
  local old = redis.call('HGET', REACHED, uid)
  if old then redis.call('ZREM', RANKED, member(tonumber(old), uid)) end
  local changed = redis.call('ZREM', BOARD, uid) == 1
  redis.call('HDEL', REACHED, uid)
  redis.call('HDEL', NAMES, uid)
  if cache then redis.call('DEL', cache) end
  return changed
end
-- Event ids: consecutive (each INCR is published), and still increasing after Redis loses the counter
-- (it restarts from the clock in microseconds), so a client's Last-Event-ID is never mistaken for a newer one.
local function next_event_id(key)
  if redis.call('EXISTS', key) == 0 then
    local now = redis.call('TIME')
    redis.call('SET', key, now[1] .. string.format('%06d', tonumber(now[2])))
  end
  return string.format('%d', redis.call('INCR', key))
end
-- The rank rule (competition ranking, "1224"): 1 + members with a strictly higher score.
local rank_cache = {}
local function rank_of(score)
  if not rank_cache[score] then rank_cache[score] = redis.call('ZCOUNT', BOARD, '(' .. score, '+inf') + 1 end
  return rank_cache[score]
end
-- Entries from a ZREVRANGE ... WITHSCORES reply of RANKED: {uid, score, rank, username}. `first`, when given, is the
-- reply's 0-based position on RANKED: there a row scoring below the row before it has exactly its position of
-- members above it, all scoring more, so the rule's count is the position and only the first row asks ZCOUNT.
local function entries(raw, first)
  local out, ids = {}, {}
  for i = 1, #raw, 2 do ids[#ids + 1] = uid_of(raw[i]) end
  local names = #ids > 0 and redis.call('HMGET', NAMES, unpack(ids)) or {}
  local above, rank = nil, nil
  for i = 1, #ids do
    local score = tonumber(raw[2 * i])
    if score ~= above then
      rank = (first and i > 1) and first + i or rank_of(score)
      above = score
    end
    out[#out + 1] = {ids[i], score, rank, names[i] or false}
  end
  return out
end
"""

# Reads answer only from a built board: while a rebuild is under way (BUILT gone, the last of KEYS) the caller reads
# PostgreSQL instead of an empty or out-of-date board.
_BUILT = """
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return redis.error_reply('NOTBUILT the board is being rebuilt') end
"""

# KEYS[5..]: each member's score cache, in order (none: leave the caches alone, as rebuilds into staging keys do).
# ARGV: mode ('raise' | 'exact' | 'newer': exact unless the board holds a later reach time), then groups of
# (uid, score, reached_ms, username, active 1/0).
# Returns how many members' scores on the board changed.
SYNC = (
    _PRELUDE
    + """
local mode, changed = ARGV[1], 0
for i = 2, #ARGV, 5 do
  local uid, score, ms, name, active = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
  local cache = KEYS[4 + (i + 3) / 5]
  local moved
  if active == '0' then moved = remove(uid, cache)
  elseif mode == 'exact' then moved = exact(uid, score, ms, name, cache)
  elseif mode == 'newer' then
    local held = redis.call('HGET', REACHED, uid)
    if not held or tonumber(held) <= ms then moved = exact(uid, score, ms, name, cache) end
  else moved = raise(uid, score, ms, name, cache) end
  if moved then changed = changed + 1 end
end
return changed
"""
)

# KEYS[5]: BUILT. ARGV: score. The rank a score has on the board now.
RANK = (
    _PRELUDE
    + _BUILT
    + """
return rank_of(tonumber(ARGV[1]))
"""
)

# KEYS[5..9]: SEQUENCE, UPDATES, the user's score cache, MIRROR, BUILT; then 4 keys per period board (keys.family).
# ARGV: uid, score, change, action, timestamp, reached_ms, username, top_n, cache_ttl, history id, its time in µs;
# then per period board: board id, period, the user's score there, when its keys expire (epoch s; 0: never).
APPLY_AWARD = (
    _PRELUDE
    + """
local uid, score, top_n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[8])
-- The award on every other board it counts on: the same raise-only write on that period's keys.
local boards = {}
for j = 1, (#KEYS - 9) / 4 do
  local k, a = 9 + 4 * (j - 1), 11 + 4 * (j - 1)
  BOARD, RANKED, NAMES, REACHED = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
  local before = tonumber(redis.call('ZSCORE', BOARD, uid) or '0')
  raise(uid, tonumber(ARGV[a + 3]), tonumber(ARGV[6]), ARGV[7])
  if ARGV[a + 4] ~= '0' then
    for x = 1, 4 do redis.call('EXPIREAT', KEYS[k + x], ARGV[a + 4]) end
  end
  rank_cache = {}
  local now = tonumber(redis.call('ZSCORE', BOARD, uid))
  boards[j] = {boardId = ARGV[a + 1], period = ARGV[a + 2], score = now, rank = rank_of(now), previousScore = before}
end
BOARD, RANKED, NAMES, REACHED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
rank_cache = {}
-- What the board held before (here and on each period above): awards of one user can reach Redis out of order, so
-- "new minus change" is not it.
local previous = tonumber(redis.call('ZSCORE', BOARD, uid) or '0')
raise(uid, score, tonumber(ARGV[6]), ARGV[7])
local cached = tonumber(redis.call('GET', KEYS[7]) or '-1')
if score >= cached then redis.call('SET', KEYS[7], score, 'EX', tonumber(ARGV[9])) end
local current = tonumber(redis.call('ZSCORE', BOARD, uid))
-- The newest award the board has applied: what the reconciler holds against PostgreSQL's history.
if tonumber(ARGV[10]) > tonumber(redis.call('HGET', KEYS[8], 'history_id') or '0') then
  redis.call('HSET', KEYS[8], 'history_id', ARGV[10], 'history_at', ARGV[11], 'history_user', uid)
end
-- While a rebuild is under way the board is not PostgreSQL's: no rank, no message (clients get a snapshot after it).
if redis.call('EXISTS', KEYS[9]) == 0 then return {0, 0} end
local top = {}
for i, e in ipairs(entries(redis.call('ZREVRANGE', RANKED, 0, top_n - 1, 'WITHSCORES'), 0)) do
  top[i] = {rank = e[3], userId = e[1], score = e[2], username = e[4] or cjson.null}
end
local event_id = next_event_id(KEYS[5])
local message = cjson.encode({
  type = 'score_update', userId = uid, newScore = current, scoreChange = tonumber(ARGV[3]),
  actionId = ARGV[4], rank = rank_of(current), timestamp = ARGV[5], leaderboard = top, previousScore = previous,
  boards = #boards > 0 and boards or nil
})
-- cjson prints numbers with 14 significant digits; event ids have 16, so they are spliced in as text.
message = string.sub(message, 1, -2) .. ',"eventId":' .. event_id .. '}'
redis.call('PUBLISH', KEYS[6], message)
return {rank_of(current), event_id}
"""
)

# Reads return {total, entries...} where entries are flattened {uid, score, rank, username}.
_RETURN = """
local flat = {redis.call('ZCARD', BOARD)}
for _, e in ipairs(rows) do
  flat[#flat + 1] = e[1]; flat[#flat + 1] = e[2]; flat[#flat + 1] = e[3]; flat[#flat + 1] = e[4]
end
return flat
"""

# KEYS[5]: BUILT. ARGV: offset, limit.
PAGE = (
    _PRELUDE
    + _BUILT
    + """
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local rows = entries(redis.call('ZREVRANGE', RANKED, offset, offset + limit - 1, 'WITHSCORES'), offset)
"""
    + _RETURN
)

# KEYS[5]: BUILT. ARGV: uid, radius. No rows when the user is not on the board.
AROUND = (
    _PRELUDE
    + _BUILT
    + """
local uid, radius = ARGV[1], tonumber(ARGV[2])
local rows = {}
local ms = redis.call('HGET', REACHED, uid)
if ms then
  local position = redis.call('ZREVRANK', RANKED, member(tonumber(ms), uid))
  if position then
    local first = math.max(position - radius, 0)
    rows = entries(redis.call('ZREVRANGE', RANKED, first, position + radius, 'WITHSCORES'), first)
  end
end
"""
    + _RETURN
)

# KEYS[5]: BUILT. ARGV: uids. Rows only for users on the board, in board order.
RANKS = (
    _PRELUDE
    + _BUILT
    + """
local rows = {}
local raw = {}
for _, uid in ipairs(ARGV) do
  local ms = redis.call('HGET', REACHED, uid)
  if ms then
    local m = member(tonumber(ms), uid)
    local score = redis.call('ZSCORE', RANKED, m)
    if score then raw[#raw + 1] = {m, score} end
  end
end
table.sort(raw, function(a, b)
  if tonumber(a[2]) ~= tonumber(b[2]) then return tonumber(a[2]) > tonumber(b[2]) end
  return a[1] > b[1]
end)
local flat = {}
for _, r in ipairs(raw) do flat[#flat + 1] = r[1]; flat[#flat + 1] = r[2] end
rows = entries(flat)
"""
    + _RETURN
)

# KEYS[5]: BUILT. ARGV: min, max, offset, limit (seed query 4 / ZRANGEBYSCORE, highest first).
RANGE = (
    _PRELUDE
    + _BUILT
    + """
local raw = redis.call('ZREVRANGEBYSCORE', RANKED, ARGV[2], ARGV[1], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
local rows = entries(raw)
"""
    + _RETURN
)

# KEYS[5..7]: SEQUENCE, BUILT, MIRROR. ARGV: limit. {last event id, built 1/0, as of, total, entries...}: the top of
# the board and the id of the last event it reflects, read atomically, so a live client can drop the events it
# already covers. "As of" is the later of the last rebuild and the newest award applied (µs; 0: unknown), the same
# for every process that reads the same state.
SNAPSHOT = (
    _PRELUDE
    + """
local rows = entries(redis.call('ZREVRANGE', RANKED, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES'), 0)
local built = redis.call('GET', KEYS[6])
local head = {redis.call('GET', KEYS[5]) or '0', built and 1 or 0,
              redis.call('HGET', KEYS[7], 'history_at') or '0', redis.call('HGET', KEYS[7], 'built_at') or '0'}
"""
    + _RETURN.replace("return flat", "return {head[1], head[2], head[3], head[4], unpack(flat)}")
)

# KEYS[5..6]: SEQUENCE, BUILT. ARGV: uids. {last event id, total, entries...}: RANKS plus the id of the last event
# they reflect.
RANKS_AT = RANKS.replace(
    _RETURN, _RETURN.replace("return flat", "return {redis.call('GET', KEYS[5]) or '0', unpack(flat)}")
)

# KEYS: a board's keys. ARGV: when they expire (epoch seconds). A finished period's board lasts until then.
EXPIRE_AT = """
for _, key in ipairs(KEYS) do redis.call('EXPIREAT', key, ARGV[1]) end
return #KEYS
"""
