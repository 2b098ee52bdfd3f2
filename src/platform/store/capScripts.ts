/**
 * The Lua scripts behind RedisCapStore. Each runs atomically on the server:
 * one round trip per reservation, no WATCH/MULTI retry loop under contention.
 * All keys a script touches share the `{dep:<id>}` hash tag, so on Redis
 * Cluster they live in one slot and the script is allowed.
 */

/**
 * KEYS: day counter, month counter, call hash, the deployment's live set
 * (sorted set: call -> when its next unit is due, ms), the deployment's copy
 * of the data-loss marker (a hash: `m` the confirmed copy, `p:<nonce>` the
 * provisional ones, each naming the marker it copies).
 * ARGV: units, day cap, month cap, day TTL, month TTL, call TTL, day, month,
 * call id, next due ms ('' = not a live admission), the marker value
 * (`{meta}:epoch`) the client knows, a fresh nonce, and the nonce of the
 * provisional copy this client wrote before checking the marker ('' none).
 * Returns {status, dayUsed, monthUsed, callReserved}; status 1 granted,
 * -6 the deployment's marker copy is not the client's (gone with a FLUSHALL,
 * or never written): a provisional copy under the fresh nonce is written and
 * nothing is reserved; the client checks the `{meta}` marker and runs the
 * script again naming that nonce, which confirms the copy (the marker lives
 * in another Cluster slot, so this copy in the deployment's slot is what the
 * script can check: a wipe after that check removes the provisional copy
 * too). Only a copy confirmed after its own writer's check counts: a client
 * that has not yet noticed a wipe writes a provisional copy it can never
 * confirm, so it cannot make the wiped store look kept to the others (a
 * plain write of its old marker did, until their timers looked). Provisional
 * copies do not replace one another, so clients confirming at once all
 * succeed; a confirmation drops them,
 * -1 day cap, -2 month cap, -3 call already settled, -5 a live admission of
 * a call that already reserved (a second answer: admitted once, or a call
 * could reserve afresh while its first reservation was dropped). A live
 * admission also keeps the caps in the call hash (`lday`, `lmonth`) for its
 * top-ups. Every reservation counts its units under its own day and month in
 * the call hash (`d:<day>`, `m:<month>`), so settlement gives back to the
 * periods that were charged.
 */
export const RESERVE_SCRIPT = `
if redis.call('HGET', KEYS[5], 'm') ~= ARGV[11] then
  if ARGV[13] == '' or redis.call('HGET', KEYS[5], 'p:' .. ARGV[13]) ~= ARGV[11] then
    redis.call('HSET', KEYS[5], 'p:' .. ARGV[12], ARGV[11])
    return {-6, 0, 0, 0}
  end
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], 'm', ARGV[11])
end
local units = tonumber(ARGV[1])
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('HGET', KEYS[3], 'settled') == '1' then return {-3, day, month, 0} end
if ARGV[10] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return {-5, day, month, 0} end
if day + units > tonumber(ARGV[2]) then return {-1, day, month, 0} end
if month + units > tonumber(ARGV[3]) then return {-2, day, month, 0} end
day = redis.call('INCRBY', KEYS[1], units)
month = redis.call('INCRBY', KEYS[2], units)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local reserved = redis.call('HINCRBY', KEYS[3], 'reserved', units)
redis.call('HINCRBY', KEYS[3], 'd:' .. ARGV[7], units)
redis.call('HINCRBY', KEYS[3], 'm:' .. ARGV[8], units)
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
 * ARGV: now ms, unit ms, call id, day TTL, month TTL, call TTL, day, month,
 * the deployment's day cap and month cap now ('' '': the caps it was
 * admitted with; given, they replace them, so an operator who lowers a cap
 * stops live calls too).
 * Returns {status, dayUsed, monthUsed, callReserved}: 1 granted, -1 day cap,
 * -2 month cap (still live, nothing reserved, looked at again one unit after
 * now: the process told ends the calls and releases each once hung up; if it
 * dies first, the next look, by any process, ends them), -3 settled (no longer
 * live), -4 not due or not live.
 */
export const TOP_UP_SCRIPT = `
local due = redis.call('ZSCORE', KEYS[4], ARGV[3])
if not due or tonumber(due) > tonumber(ARGV[1]) then return {-4, 0, 0, 0} end
local dayCap = tonumber(redis.call('HGET', KEYS[3], 'lday') or '')
local monthCap = tonumber(redis.call('HGET', KEYS[3], 'lmonth') or '')
if dayCap and monthCap and ARGV[9] ~= '' then
  dayCap = tonumber(ARGV[9])
  monthCap = tonumber(ARGV[10])
  redis.call('HSET', KEYS[3], 'lday', ARGV[9], 'lmonth', ARGV[10])
end
local day = tonumber(redis.call('GET', KEYS[1]) or '0')
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('HGET', KEYS[3], 'settled') == '1' or not dayCap or not monthCap then
  redis.call('ZREM', KEYS[4], ARGV[3])
  return {-3, day, month, 0}
end
local later = tonumber(ARGV[1]) + tonumber(ARGV[2])
if day + 1 > dayCap then redis.call('ZADD', KEYS[4], later, ARGV[3]) return {-1, day, month, 0} end
if month + 1 > monthCap then redis.call('ZADD', KEYS[4], later, ARGV[3]) return {-2, day, month, 0} end
day = redis.call('INCRBY', KEYS[1], 1)
month = redis.call('INCRBY', KEYS[2], 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local reserved = redis.call('HINCRBY', KEYS[3], 'reserved', 1)
redis.call('HINCRBY', KEYS[3], 'd:' .. ARGV[7], 1)
redis.call('HINCRBY', KEYS[3], 'm:' .. ARGV[8], 1)
redis.call('HSET', KEYS[3], 'day', ARGV[7], 'month', ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[4], tonumber(due) + tonumber(ARGV[2]), ARGV[3])
return {1, day, month, reserved}
`;

/**
 * Settles a call once, into the periods it reserved in (a call spanning
 * midnight or a month's end reserved in two): unused units are given back
 * earliest period first (what a call reserves and does not use is its
 * ringing before the answer, at its start), a shortfall is charged to its
 * latest period (cap.settleAdjustments is the same rule, for the embedded
 * store).
 * KEYS: call hash, live set, then the day counters and the month counters
 * named in ARGV, each list oldest first.
 * ARGV: billed units, call TTL, call id, number of days, number of months,
 * day TTL, month TTL (for a counter the settlement creates), the days, the
 * months. The caller lists the periods the hash names (or,
 * for a call that never reserved, the current period); a period the hash
 * names that is not listed (a top-up landed since the caller read it)
 * returns {-9}: read again and retry.
 * Returns {first, billed, reserved}: first 1 the one time it settles.
 */
export const SETTLE_SCRIPT = `
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('HGET', KEYS[1], 'settled') == '1' then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'billed') or '0'), tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')}
end
local nd = tonumber(ARGV[4])
local nm = tonumber(ARGV[5])
local listed = {}
for i = 1, nd do listed['d:' .. ARGV[7 + i]] = true end
for i = 1, nm do listed['m:' .. ARGV[7 + nd + i]] = true end
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  local kind = string.sub(f, 1, 2)
  if (kind == 'd:' or kind == 'm:') and not listed[f] then return {-9, 0, 0} end
end
local billed = tonumber(ARGV[1])
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local delta = billed - reserved
local function adjust(firstKey, firstName, count, prefix, ttl)
  if count == 0 or delta == 0 then return end
  if delta > 0 then
    local key = KEYS[firstKey + count - 1]
    redis.call('INCRBY', key, delta)
    if redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
    return
  end
  local held = {}
  local accounted = 0
  for i = 1, count do
    held[i] = tonumber(redis.call('HGET', KEYS[1], prefix .. ARGV[firstName + i - 1]) or '0')
    accounted = accounted + held[i]
  end
  -- Units reserved before counts were kept per period came first: the earliest period holds them.
  held[1] = held[1] + math.max(0, reserved - accounted)
  local refund = -delta
  for i = 1, count do
    if refund == 0 then break end
    local take = math.min(refund, held[i])
    if take > 0 then
      local after = redis.call('INCRBY', KEYS[firstKey + i - 1], -take)
      if after < 0 then redis.call('SET', KEYS[firstKey + i - 1], 0, 'KEEPTTL') end
      refund = refund - take
    end
  end
end
adjust(3, 8, nd, 'd:', ARGV[6])
adjust(3 + nd, 8 + nd, nm, 'm:', ARGV[7])
redis.call('HSET', KEYS[1], 'settled', '1', 'billed', billed, 'reserved', reserved)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1, billed, reserved}
`;

/**
 * The marker that tells a running platform its Redis lost its data.
 * KEYS: the marker. ARGV: the value this client saw ('' the first time), a fresh value.
 * The first time it is written if absent (no TTL) and its value returned; after that the
 * value is returned while it is the one seen, '' when it is gone or another one.
 */
export const EPOCH_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if not v then
    redis.call('SET', KEYS[1], ARGV[2])
    return ARGV[2]
  end
  return v
end
if v == ARGV[1] then return v end
return ''
`;
