import { Redis } from "effect/persistence"

/**
 * Lua for the Redis limit store. A script runs atomically in Redis, so a check-then-record across every
 * key of every subject is one step, whichever instance sends it. Time is Redis's (TIME), so instances with
 * skewed clocks still agree on the window. Per subject the KEYS are, in this order:
 *   log  sorted set  lease id → admission time (ms)
 *   tok  hash        lease id → tokens, plus "#total" (the sum, kept in step)
 *   par  sorted set  lease id → expiry (ms) of the parallel slot
 */

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/** Drops entries that left the window (now - window, now], keeping "#total" equal to the sum of the rest. */
const PRUNE = `
local function prune(log, tok, cutoff)
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  if #expired == 0 then return end
  local freed = 0
  for i = 1, #expired, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #expired) do chunk[#chunk + 1] = expired[j] end
    local values = redis.call('HMGET', tok, unpack(chunk))
    for k = 1, #chunk do freed = freed + (tonumber(values[k]) or 0) end
    redis.call('HDEL', tok, unpack(chunk))
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
  -- Only when non-zero: Lua writes 0 negated as "-0", which HINCRBY refuses.
  if freed ~= 0 then redis.call('HINCRBY', tok, '#total', -freed) end
end
`

/**
 * ARGV: mode ("acquire" | "peek"), window ms, lease id, lease ttl ms, cost tokens, then per subject rpm,
 * tpm, parallel (-1: unlimited). Returns [admitted, refusing subject (1-based, 0: none), axis (1 requests,
 * 2 tokens, 3 parallel), retry ms] followed by per subject [requests, tokens, reset ms, parallel].
 * Same rules as refusal.ts.
 */
const ACQUIRE = `${PRELUDE}${PRUNE}
local mode, window, lease = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local leaseTtl, cost = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = #KEYS / 3
local cutoff = now - window
local refused = {1, 0, 0, 0}
local usage = {}

-- Time until 'needRequests' requests and 'needTokens' tokens have left the window, walking from the oldest.
local function waitMs(log, tok, needRequests, needTokens)
  local requests, tokens, start = 0, 0, 0
  while start < 100000 do
    local page = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
    if #page == 0 then return window end
    local members = {}
    for i = 1, #page, 2 do members[#members + 1] = page[i] end
    local values = redis.call('HMGET', tok, unpack(members))
    for i = 1, #members do
      requests = requests + 1
      tokens = tokens + (tonumber(values[i]) or 0)
      if requests >= needRequests and tokens >= needTokens then
        return math.max(0, tonumber(page[2 * i]) + window - now)
      end
    end
    start = start + 100
  end
  return window
end

for i = 1, n do
  local log, tok, par = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local base = 5 + 3 * (i - 1)
  local rpm, tpm, parallel = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local requests, tokens, resetMs, active = 0, 0, 0, 0
  if rpm >= 0 or tpm >= 0 then
    prune(log, tok, cutoff)
    requests = redis.call('ZCARD', log)
    tokens = tonumber(redis.call('HGET', tok, '#total') or '0') or 0
    if requests > 0 then
      local newest = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
      resetMs = math.max(0, tonumber(newest[2]) + window - now)
    end
  end
  if parallel >= 0 then
    redis.call('ZREMRANGEBYSCORE', par, '-inf', now)
    active = redis.call('ZCARD', par)
  end
  usage[i] = {requests, tokens, resetMs, active}
  if mode == 'acquire' and refused[1] == 1 then
    if rpm >= 0 and requests + 1 > rpm then
      refused = {0, i, 1, waitMs(log, tok, requests + 1 - rpm, 0)}
    elseif tpm >= 0 and tokens + cost > tpm then
      local wait = window
      if cost <= tpm then wait = waitMs(log, tok, 0, tokens + cost - tpm) end
      refused = {0, i, 2, wait}
    elseif parallel >= 0 and active + 1 > parallel then
      refused = {0, i, 3, 1000}
    end
  end
end

if mode == 'acquire' and refused[1] == 1 then
  for i = 1, n do
    local log, tok, par = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    local base = 5 + 3 * (i - 1)
    local rpm, tpm, parallel = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
    if rpm >= 0 or tpm >= 0 then
      redis.call('ZADD', log, now, lease)
      redis.call('HSET', tok, lease, cost)
      redis.call('HINCRBY', tok, '#total', cost)
      redis.call('PEXPIRE', log, window + 1000)
      redis.call('PEXPIRE', tok, window + 1000)
      usage[i][1] = usage[i][1] + 1
      usage[i][2] = usage[i][2] + cost
      usage[i][3] = window
    end
    if parallel >= 0 then
      redis.call('ZADD', par, now + leaseTtl, lease)
      redis.call('PEXPIRE', par, leaseTtl + 1000)
      usage[i][4] = usage[i][4] + 1
    end
  end
end

local out = refused
for i = 1, n do
  for j = 1, 4 do out[#out + 1] = usage[i][j] end
end
return out
`

/** KEYS: the tok hash of each subject. ARGV: lease id, delta. Entries that left the window are not revived. */
const RECONCILE = `
local lease, delta = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS do
  local current = tonumber(redis.call('HGET', KEYS[i], lease) or '')
  if current then
    local next = math.max(0, current + delta)
    if next ~= current then
      redis.call('HSET', KEYS[i], lease, next)
      redis.call('HINCRBY', KEYS[i], '#total', next - current)
    end
  end
end
return 1
`

/** KEYS: the par sorted set of each subject. ARGV: lease id. */
const RELEASE = `
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
`

/** KEYS: the par sorted set of each subject. ARGV: lease id, ttl ms. Only extends slots still held (XX). */
const REFRESH = `${PRELUDE}
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl + 1000)
end
return 1
`

const byKeys = <A extends ReadonlyArray<string | number>>(lua: string) =>
  Redis.script((keys: ReadonlyArray<string>, ...args: A) => [...keys, ...args], {
    lua,
    numberOfKeys: (keys: ReadonlyArray<string>, ..._args: A) => keys.length
  })

export const acquireScript = Redis.script(
  (keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) => [...keys, ...args],
  { lua: ACQUIRE, numberOfKeys: (keys: ReadonlyArray<string>) => keys.length }
).withReturnType<ReadonlyArray<number>>()

export const reconcileScript = byKeys<[lease: string, delta: number]>(RECONCILE)
export const releaseScript = byKeys<[lease: string]>(RELEASE)
export const refreshScript = byKeys<[lease: string, ttlMs: number]>(REFRESH)
