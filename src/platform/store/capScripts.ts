/**
 * The Lua scripts behind RedisCapStore. Each runs atomically on the server:
 * one round trip per reservation, no WATCH/MULTI retry loop under contention.
 * All keys a script touches share the `{dep:<id>}` hash tag, so on Redis
 * Cluster they live in one slot and the script is allowed.
 */

/**
 * KEYS: day counter, month counter, call hash.
 * ARGV: units, day cap, month cap, day TTL, month TTL, call TTL, day, month.
 * Returns {status, dayUsed, monthUsed, callReserved}; status 1 granted,
 * -1 day cap, -2 month cap, -3 call already settled.
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
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {1, day, month, reserved}
`;

/**
 * KEYS: day counter, month counter (of the call's last reservation, or the
 * current period when it never reserved), call hash.
 * ARGV: billed units, call TTL.
 * Returns {first, billed, reserved}: first 1 the one time it settles.
 */
export const SETTLE_SCRIPT = `
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
