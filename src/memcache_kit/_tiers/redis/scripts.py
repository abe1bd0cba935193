"""Key layout and Lua scripts of the Redis tier (no redis import here: plain strings).

Every key of a namespace carries the hash tag ``{namespace}``, so a namespace lives in one
Redis Cluster slot and the scripts below, which touch several keys, run atomically there too::

    mk:{ns}:v1:e:<key>                  sealed entry (a value, or the header of a chunked one)
    mk:{ns}:v1:c:<key>:<token>:<i>      chunk i of a chunked entry written with <token>
    mk:{ns}:v1:l:<key>                  single-flight lock (value: the holder's random token)
    mk:{ns}:v1:sizes                    hash  key -> "size:token:chunks"
    mk:{ns}:v1:lru                      zset  key -> last access (server ms)
    mk:{ns}:v1:exp                      zset  key -> expiry (ms), entries with a TTL only
    mk:{ns}:v1:acct                     hash  "bytes" -> total accounted bytes

Entries and chunks always carry an expiry: their TTL, or a nominal 100 years without one, so
that under a ``volatile-lru``/``volatile-lfu`` ``maxmemory`` policy Redis may evict entries but
never the bookkeeping keys, which have none. The bookkeeping keys are changed only by these
scripts, so they agree with each other; they can disagree with the entries only when Redis drops
an entry on its own (TTL, ``maxmemory`` eviction, a restart without persistence). ``forget``
treats that as normal: the record goes, and nothing counts it as our eviction. Writes purge
records of expired entries (bounded per call), and reads report misses so the next batch of
access times heals their records.
"""

from __future__ import annotations

__all__ = ["DELETE", "DROP_IF", "LOCK_RELEASE", "LOCK_RENEW", "SET", "STATS", "TOUCH", "Keys"]


class Keys:
    """Key names of one namespace."""

    __slots__ = ("acct", "exp", "lru", "prefix", "sizes")

    def __init__(self, namespace: str) -> None:
        self.prefix = f"mk:{{{namespace}}}:v1:"
        self.sizes = self.prefix + "sizes"
        self.lru = self.prefix + "lru"
        self.exp = self.prefix + "exp"
        self.acct = self.prefix + "acct"

    def entry(self, key: str) -> str:
        return f"{self.prefix}e:{key}"

    def chunk(self, key: str, token: str, i: int) -> str:
        return f"{self.prefix}c:{key}:{token}:{i}"

    def lock(self, key: str) -> str:
        return f"{self.prefix}l:{key}"

    def books(self) -> list[str]:
        """The bookkeeping keys, in the order every script takes them (KEYS[1..4])."""
        return [self.sizes, self.lru, self.exp, self.acct]


# KEYS = sizes, lru, exp, acct; ARGV[1] = prefix. forget(k) drops k's entry, chunks and record
# and returns 1 when the entry itself was still there (so it counts as an eviction).
_COMMON = """
local P = ARGV[1]
local SIZES, LRU, EXP, ACCT = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function forget(k)
  local existed = redis.call('DEL', P .. 'e:' .. k)
  local rec = redis.call('HGET', SIZES, k)
  if rec then
    local size, token, n = string.match(rec, '^(%d+):(%w*):(%d+)$')
    if size then
      redis.call('HINCRBY', ACCT, 'bytes', -tonumber(size))
      for i = 0, tonumber(n) - 1 do
        redis.call('DEL', P .. 'c:' .. k .. ':' .. token .. ':' .. i)
      end
    end
    redis.call('HDEL', SIZES, k)
  end
  redis.call('ZREM', LRU, k)
  redis.call('ZREM', EXP, k)
  return existed
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge_expired(now)
  local gone = redis.call('ZRANGEBYSCORE', EXP, '-inf', now, 'LIMIT', 0, 64)
  for _, k in ipairs(gone) do forget(k) end
end
local function totals()
  return {tonumber(redis.call('HGET', ACCT, 'bytes') or '0'), redis.call('HLEN', SIZES)}
end
"""

SET = (
    _COMMON
    + """
-- ARGV: prefix, key, blob, size, token, chunks, pxat (0: no TTL), budget, nominal lifetime ms
local k, blob, size, token, n = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local pxat, budget, nominal = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now = now_ms()
purge_expired(now)
forget(k)
if pxat > 0 then
  redis.call('SET', P .. 'e:' .. k, blob, 'PXAT', pxat)
  redis.call('ZADD', EXP, pxat, k)
else
  -- a nominal expiry, so volatile-* maxmemory policies may evict entries (never bookkeeping)
  redis.call('SET', P .. 'e:' .. k, blob, 'PX', nominal)
end
-- chunks were written with a provisional expiry (so a writer that dies leaves no orphans):
-- from now on they live exactly as long as their entry
for i = 0, tonumber(n) - 1 do
  local c = P .. 'c:' .. k .. ':' .. token .. ':' .. i
  if pxat > 0 then redis.call('PEXPIREAT', c, pxat) else redis.call('PEXPIRE', c, nominal) end
end
redis.call('HSET', SIZES, k, size .. ':' .. token .. ':' .. n)
redis.call('ZADD', LRU, now, k)
local total = redis.call('HINCRBY', ACCT, 'bytes', size)
local evicted = 0
local guard = 0
while total > budget and guard < 100000 do
  guard = guard + 1
  local v = redis.call('ZRANGE', LRU, 0, 0)
  if #v == 0 then
    -- the recency index is gone (evicted by the server): fall back to any recorded key
    v = redis.call('HKEYS', SIZES)
    if #v == 0 then
      redis.call('HSET', ACCT, 'bytes', 0)
      break
    end
  end
  evicted = evicted + forget(v[1])
  total = tonumber(redis.call('HGET', ACCT, 'bytes') or '0')
end
local t = totals()
return {evicted, t[1], t[2]}
"""
)

DELETE = (
    _COMMON
    + """
-- ARGV: prefix, key
return forget(ARGV[2])
"""
)

DROP_IF = (
    _COMMON
    + """
-- ARGV: prefix, key, blob: drop the entry only while it still holds blob (a newer write stays)
if redis.call('GET', P .. 'e:' .. ARGV[2]) == ARGV[3] then return forget(ARGV[2]) end
return 0
"""
)

TOUCH = (
    _COMMON
    + """
-- ARGV: prefix, number of hits, hit keys (least recent first)..., missed keys...
local now = now_ms()
local nhits = tonumber(ARGV[2])
for i = 1, nhits do
  redis.call('ZADD', LRU, 'XX', now - nhits + i, ARGV[2 + i])
end
for i = 3 + nhits, #ARGV do
  local k = ARGV[i]
  if redis.call('EXISTS', P .. 'e:' .. k) == 0 and redis.call('HEXISTS', SIZES, k) == 1 then
    forget(k)
  end
end
purge_expired(now)
return 0
"""
)

STATS = (
    _COMMON
    + """
-- ARGV: prefix, budget (-1: do not cull)
purge_expired(now_ms())
local budget = tonumber(ARGV[2])
local evicted = 0
if budget >= 0 then
  local total = totals()[1]
  while total > budget do
    local v = redis.call('ZRANGE', LRU, 0, 0)
    if #v == 0 then break end
    evicted = evicted + forget(v[1])
    total = totals()[1]
  end
end
local t = totals()
return {evicted, t[1], t[2]}
"""
)

LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

LOCK_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
