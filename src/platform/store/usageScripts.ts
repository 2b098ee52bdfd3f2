/**
 * The Lua script behind RedisUsageStore: applyUsage (UsageStore.ts) step for
 * step, atomically on the server, so a gateway report and the provider's
 * settlement arriving together (on one or two platform processes) compare
 * exactly once. Every key carries the `{usage}` hash tag (one Cluster slot:
 * a few writes per call).
 *
 * Entry hash fields: dep, call, first (ms), p, g (ms), pAt, rAt (ms), flags
 * (comma-separated, in the order raised), k (1: written only by unknown
 * reports). Absent means null.
 */
import { MISMATCH_FLOOR_MS, MISMATCH_FRACTION } from './UsageStore.js';

/**
 * KEYS: entry hash, history index, deployment's index (real calls), deployment's
 *       unknown index, unknown report counts (hash by deployment).
 * ARGV: op (gateway|unknown|provider|unreported), deployment, call id,
 *       duration ms (grace ms for unreported), now ms, ttl s, max entries (per
 *       deployment), retention ms, key prefix, max unknown entries (per deployment).
 * Returns {compared 0|1, added flags, exists 0|1, p, g, pAt, rAt, flags} ('' = null).
 *
 * An entry written only by unknown reports has the field k = 1 and sits in the
 * deployment's unknown index instead of its index: each index is trimmed to its
 * own bound, so neither another deployment nor made-up ids evict a real call's
 * entry (UsageStore.ts).
 */
export const USAGE_APPLY_SCRIPT = `
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[5])
local value = tonumber(ARGV[4])
local member = ARGV[2] .. '|' .. ARGV[3]
-- An entry gone from retention: its hash and its place in every index.
local function drop(old)
  local bar = string.find(old, '|', 1, true)
  local dep = string.sub(old, 1, bar - 1)
  redis.call('ZREM', KEYS[2], old)
  redis.call('ZREM', ARGV[9] .. 'dep:' .. dep, old)
  redis.call('ZREM', ARGV[9] .. 'kdep:' .. dep, old)
  redis.call('DEL', ARGV[9] .. 'u:' .. old)
end
local function trim(index, max)
  local over = redis.call('ZCARD', index) - max
  if over > 0 then
    local popped = redis.call('ZPOPMIN', index, over)
    for i = 1, #popped, 2 do drop(popped[i]) end
  end
end
local exists = redis.call('EXISTS', key) == 1
local held = exists and redis.call('HEXISTS', key, 'k') == 1
if op == 'unknown' and (held or not exists) then redis.call('HINCRBY', KEYS[5], ARGV[2], 1) end
if not exists then
  if op == 'unreported' then return {0, '', 0, '', '', '', '', ''} end
  redis.call('HSET', key, 'dep', ARGV[2], 'call', ARGV[3], 'first', now, 'flags', '')
  redis.call('ZADD', KEYS[2], now, member)
  -- Retention: entries first seen before the retention window, then the oldest of this kind beyond its bound.
  local cutoff = '(' .. (now - tonumber(ARGV[8]))
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)) do drop(old) end
  if op == 'unknown' then
    redis.call('HSET', key, 'k', 1)
    redis.call('ZADD', KEYS[4], now, member)
    trim(KEYS[4], tonumber(ARGV[10]))
  else
    redis.call('ZADD', KEYS[3], now, member)
    trim(KEYS[3], tonumber(ARGV[7]))
  end
elseif held and (op == 'gateway' or op == 'provider') then
  -- A known call's report or the provider's figure: a real call's entry from now on (newest).
  redis.call('HDEL', key, 'k')
  redis.call('ZREM', KEYS[4], member)
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('ZADD', KEYS[3], now, member)
  trim(KEYS[3], tonumber(ARGV[7]))
end
local f = redis.call('HMGET', key, 'p', 'g', 'pAt', 'rAt', 'flags')
local p, g, pAt, rAt = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local flags = {}
for name in string.gmatch(f[5] or '', '[^,]+') do flags[#flags + 1] = name end
local added = {}
local function flag(name)
  for _, have in ipairs(flags) do if have == name then return end end
  flags[#flags + 1] = name
  added[#added + 1] = name
end
local completes = false
if op == 'gateway' or op == 'unknown' then
  if not g then
    g, rAt = value, now
    completes = p ~= nil
  end
  if op == 'unknown' and not completes and not p then flag('unknown_to_provider') end
elseif op == 'provider' then
  if not p then
    p, pAt = value, now
    completes = g ~= nil
  end
elseif op == 'unreported' then
  if (not g) and pAt and now - pAt > value then flag('unreported') end
end
if completes then
  local kept = {}
  for _, name in ipairs(flags) do
    if name ~= 'unreported' and name ~= 'unknown_to_provider' then kept[#kept + 1] = name end
  end
  flags = kept
  if math.abs(g - p) > math.max(${MISMATCH_FLOOR_MS}, ${MISMATCH_FRACTION} * p) then flag('duration_mismatch') end
end
local fields = {'flags', table.concat(flags, ',')}
if p then fields[#fields + 1] = 'p'; fields[#fields + 1] = p; fields[#fields + 1] = 'pAt'; fields[#fields + 1] = pAt end
if g then fields[#fields + 1] = 'g'; fields[#fields + 1] = g; fields[#fields + 1] = 'rAt'; fields[#fields + 1] = rAt end
redis.call('HSET', key, unpack(fields))
redis.call('EXPIRE', key, ARGV[6])
local function s(v) if v then return tostring(v) end return '' end
return {completes and 1 or 0, table.concat(added, ','), 1, s(p), s(g), s(pAt), s(rAt), table.concat(flags, ',')}
`;
