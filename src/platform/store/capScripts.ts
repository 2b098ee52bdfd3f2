/**
 * The Lua scripts behind RedisCapStore. Each runs atomically on the server:
 * one round trip per reservation, no WATCH/MULTI retry loop under contention.
 * All keys a script touches share the `{dep:<id>}` hash tag, so on Redis
 * Cluster they live in one slot and the script is allowed.
 */

/**
 * KEYS: day counter, month counter, call hash, the deployment's live set
 * (sorted set: call -> when its next unit is due, ms).
 * ARGV: units, day cap, month cap, day TTL, month TTL, call TTL, day, month,
 * call id, next due ms ('' = not a live admission).
 * Returns {status, dayUsed, monthUsed, callReserved}; status 1 granted,
 * -1 day cap, -2 month cap, -3 call already settled. A live admission also
 * keeps the caps in the call hash (`lday`, `lmonth`) for its top-ups.
 */
export const RESERVE_SCRIPT = `
local units = tonumber(ARGV[1])
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('HGET', KEYS[3], 'settled') == '1' then return {-3, day, month, 0} end
if day + units > tonumber(ARGV[2]) then return {-1, day, month, 0} end
if month + units > tonumber(ARGV[3]) then return {-2, day, month, 0} end
day = redis.call('INCRBY', KEYS[1], units)
month = redis.call('INCRBY', KEYS[2], units)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local reserved = redis.call('HINCRBY', KEYS[3], 'reserved', units)
redis.call('HSET', KEYS[3], 'day', ARGV[7], 'month', ARGV[8])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[3], 'lday', ARGV[2], 'lmonth', ARGV[3])
  redis.call('ZADD', KEYS[4], ARGV[10], ARGV[9])
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {1, day, month, reserved}
`;

/**
 * A live call's top-up, only if it is due: two processes ticking at once
 * cannot both reserve the same unit (the second finds the due time moved).
 * KEYS: day counter, month counter, call hash, live set.
 * ARGV: now ms, unit ms, call id, day TTL, month TTL, call TTL, day, month.
 * Returns {status, dayUsed, monthUsed, callReserved}: 1 granted, -1 day cap,
 * -2 month cap (no longer live), -3 settled (no longer live), -4 not due or not live.
 */
export const TOP_UP_SCRIPT = `
local due = redis.call('ZSCORE', KEYS[4], ARGV[3])
if not due or tonumber(due) > tonumber(ARGV[1]) then return {-4, 0, 0, 0} end
local dayCap = tonumber(redis.call('HGET', KEYS[3], 'lday') or '')
local monthCap = tonumber(redis.call('HGET', KEYS[3], 'lmonth') or '')
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('HGET', KEYS[3], 'settled') == '1' or not dayCap or not monthCap then
  redis.call('ZREM', KEYS[4], ARGV[3])
  return {-3, day, month, 0}
end
if day + 1 > dayCap then redis.call('ZREM', KEYS[4], ARGV[3]) return {-1, day, month, 0} end
if month + 1 > monthCap then redis.call('ZREM', KEYS[4], ARGV[3]) return {-2, day, month, 0} end
day = redis.call('INCRBY', KEYS[1], 1)
month = redis.call('INCRBY', KEYS[2], 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local reserved = redis.call('HINCRBY', KEYS[3], 'reserved', 1)
redis.call('HSET', KEYS[3], 'day', ARGV[7], 'month', ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], tonumber(due) + tonumber(ARGV[2]), ARGV[3])
return {1, day, month, reserved}
`;

/**
 * KEYS: day counter, month counter (of the call's last reservation, or the
 * current period when it never reserved), call hash, live set.
 * ARGV: billed units, call TTL, call id.
 * Returns {first, billed, reserved}: first 1 the one time it settles.
 */
export const SETTLE_SCRIPT = `
redis.call('ZREM', KEYS[4], ARGV[3])
if redis.call('HGET', KEYS[3], 'settled') == '1' then
  return {0, tonumber(redis.call('HGET', KEYS[3], 'billed') or '0'), tonumber(redis.call('HGET', KEYS[3], 'reserved') or '0')}
end
local billed = tonumber(ARGV[1])
local reserved = tonumber(redis.call('HGET', KEYS[3], 'reserved') or '0')
local delta = billed - reserved
if delta ~= 0 then
  for i = 1, 2 do
    local after = redis.call('INCRBY', KEYS[i], delta)
    if after < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
redis.call('HSET', KEYS[3], 'settled', '1', 'billed', billed, 'reserved', reserved)
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {1, billed, reserved}
`;
