/**
 * The token bucket behind RedisRateLimitStore, one atomic script per take.
 * The clock is the Redis server's (TIME), so platform processes whose clocks
 * differ still refill one bucket at one rate. One key per bucket, tagged with
 * its own name (`{rl:<key>}`): nothing else shares its slot.
 *
 * KEYS: the bucket hash (`tokens` as a decimal string, `at` in ms).
 * ARGV: rate per second, burst, tokens wanted, key TTL in ms.
 * Returns {granted, retryAfterMs}.
 */
export const TAKE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local granted = math.floor(tokens)
if granted > want then granted = want end
if granted < 0 then granted = 0 end
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', at)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local wait = 0
if granted < want and tokens < 1 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {granted, wait}
`;
