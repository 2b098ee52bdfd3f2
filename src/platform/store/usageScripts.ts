/**
 * The Lua script behind RedisUsageStore: applyUsage (UsageStore.ts) step for
 * step, atomically on the server, so a gateway report and the provider's
 * settlement arriving together (on one or two platform processes) compare
 * exactly once. Every key carries the `{usage}` hash tag (one Cluster slot:
 * a few writes per call).
 *
 * Entry hash fields: dep, call, first (ms), p, g (ms), pAt, rAt (ms), flags
 * (comma-separated, in the order raised). Absent means null.
 */
import { MISMATCH_FLOOR_MS, MISMATCH_FRACTION } from './UsageStore.js';

/**
 * KEYS: entry hash, history index, deployment's index.
 * ARGV: op (gateway|unknown|provider|unreported), deployment, call id,
 *       duration ms (grace ms for unreported), now ms, ttl s, max entries, retention ms, key prefix.
 * Returns {compared 0|1, added flags, exists 0|1, p, g, pAt, rAt, flags} ('' = null).
 */
export const USAGE_APPLY_SCRIPT = `
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[5])
local value = tonumber(ARGV[4])
if redis.call('EXISTS', key) == 0 then
  if op == 'unreported' then return {0, '', 0, '', '', '', '', ''} end
  local member = ARGV[2] .. '|' .. ARGV[3]
  redis.call('HSET', key, 'dep', ARGV[2], 'call', ARGV[3], 'first', now, 'flags', '')
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('ZADD', KEYS[3], now, member)
  -- Retention: entries first seen before the retention window, then the oldest beyond the bound.
  local cutoff = '(' .. (now - tonumber(ARGV[8]))
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
  local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
  if over > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[2], over)
    for i = 1, #popped, 2 do gone[#gone + 1] = popped[i] end
  end
  for _, old in ipairs(gone) do
    local bar = string.find(old, '|', 1, true)
    redis.call('ZREM', ARGV[9] .. 'dep:' .. string.sub(old, 1, bar - 1), old)
    redis.call('DEL', ARGV[9] .. 'u:' .. old)
  end
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
