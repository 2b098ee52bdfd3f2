/**
 * The Lua scripts behind RedisCallStore. Each runs atomically on the server,
 * so a call's owner is decided once even when several platform processes see
 * the same call at the same moment. Every key a script touches carries the
 * `{calls}` hash tag: on Redis Cluster they share one slot, so the record,
 * its timeline and the history indexes change together (call records are a
 * few writes per call: one slot is far from a bottleneck).
 *
 * Record hash fields: id, owner (absent = none), locked 0|1, direction,
 * from, to, state, firstSeenAt, answeredAt, endedAt, hangupCause, seq,
 * reservationId, billing (JSON), rec (1 when recording is on) and rec.<field>
 * (JSON each). Absent means null.
 *
 * The unsettled index (`unsettled`, a sorted set of ids scored by when the
 * store learned the call ended, ms) holds the ended calls of a deployment
 * whose billing is not written yet: a call joins when its hang-up is
 * recorded while it has an owner (EVENT) or it gets an owner after its
 * hang-up (LOCK), or the platform hung it up itself (HUNG_UP, ended or
 * not: its hang-up event may never come), and leaves when billing is patched on (PATCH) or its
 * record is evicted (CREATE). It is what a platform start resumes.
 */

/** Puts an owned, ended, unbilled call on the unsettled index (kept at its first time: NX). */
const MARK_UNSETTLED = `
local function markUnsettled(rec, unsettled, id, nowMs)
  if redis.call('HGET', rec, 'state') == 'ended' and redis.call('HGET', rec, 'locked') == '1'
    and redis.call('HEXISTS', rec, 'owner') == 1 and redis.call('HEXISTS', rec, 'billing') == 0 then
    redis.call('ZADD', unsettled, 'NX', nowMs, id)
  end
end
`;

/**
 * Shared by LOCK and EVENT: create the record when absent, index it (history
 * sorted set, scored by first sight in ms) and apply the retention bounds:
 * index entries older than the retention and, beyond the count cap, the
 * oldest records (their keys and index entries) go.
 */
const CREATE = `
local function create(rec, index, argv_id, direction, from, to, nowIso, nowMs, maxCalls, retentionMs, prefix)
  redis.call('HSET', rec, 'id', argv_id, 'direction', direction, 'from', from, 'to', to,
    'state', 'initiated', 'firstSeenAt', nowIso, 'locked', '0', 'seq', '0')
  redis.call('ZADD', index, nowMs, argv_id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (nowMs - retentionMs))
  local over = redis.call('ZCARD', index) - maxCalls
  if over > 0 then
    local gone = redis.call('ZPOPMIN', index, over)
    for i = 1, #gone, 2 do
      local old = prefix .. 'call:' .. gone[i]
      local owner = redis.call('HGET', old, 'owner')
      if owner then redis.call('ZREM', prefix .. 'dep:' .. owner, gone[i]) end
      redis.call('ZREM', prefix .. 'unsettled', gone[i])
      redis.call('DEL', old, old .. ':tl')
    end
  end
end
`;

/**
 * KEYS: record, timeline, history index, deployment's index (for the new owner; any key when none),
 * unsettled index, the reservation's entry (`res:<reservationId>`: the call it was locked with, for
 * LiveCallAudit's look for reservations no call carries; unused when there is no reservation id).
 * ARGV: id, owner ('' = unowned), direction, from, to, nowIso, nowMs, ttl s,
 *       reservationId ('' = none), maxCalls, retention ms, key prefix.
 * Returns {ok, owner, state}: ok 1 locked now or already to this owner, 0 locked to another.
 */
export const LOCK_SCRIPT = `${CREATE}${MARK_UNSETTLED}
local locked = redis.call('HGET', KEYS[1], 'locked')
if locked == '1' then
  local owner = redis.call('HGET', KEYS[1], 'owner') or ''
  local state = redis.call('HGET', KEYS[1], 'state')
  if owner ~= ARGV[2] then return {0, owner, state} end
  if ARGV[9] ~= '' then
    redis.call('HSET', KEYS[1], 'reservationId', ARGV[9])
    redis.call('SET', KEYS[6], ARGV[1], 'EX', ARGV[8])
  end
  return {1, owner, state}
end
if not locked then
  create(KEYS[1], KEYS[3], ARGV[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12])
end
redis.call('HSET', KEYS[1], 'locked', '1')
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2])
  local first = redis.call('ZSCORE', KEYS[3], ARGV[1]) or ARGV[7]
  redis.call('ZADD', KEYS[4], first, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (tonumber(ARGV[7]) - tonumber(ARGV[11])))
  local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[10])
  if over > 0 then redis.call('ZPOPMIN', KEYS[4], over) end
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'reservationId', ARGV[9])
  redis.call('SET', KEYS[6], ARGV[1], 'EX', ARGV[8])
end
-- Its hang-up came before its owner (an outgoing call's webhook before the dial's answer).
markUnsettled(KEYS[1], KEYS[5], ARGV[1], tonumber(ARGV[7]))
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('EXPIRE', KEYS[2], ARGV[8])
return {1, ARGV[2], redis.call('HGET', KEYS[1], 'state')}
`;

/**
 * KEYS: record, timeline, history index, unsettled index.
 * ARGV: id, direction, from, to, nowIso, nowMs, ttl s, maxCalls, retention ms, prefix,
 *       event type, occurred_at, occurred ms, entry JSON, hangup cause ('' none),
 *       next state ('' none), max timeline entries.
 * Returns {owner, locked, state}.
 */
export const EVENT_SCRIPT = `${CREATE}${MARK_UNSETTLED}
local rank = { initiated = 0, answered = 1, ended = 2 }
if redis.call('EXISTS', KEYS[1]) == 0 then
  create(KEYS[1], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
-- Equal times keep arrival order: members of one score sort by the padded sequence.
redis.call('ZADD', KEYS[2], ARGV[13], string.format('%012d', seq) .. '|' .. ARGV[14])
if redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[17]) then redis.call('ZREMRANGEBYRANK', KEYS[2], 1, 1) end
local state = redis.call('HGET', KEYS[1], 'state')
if ARGV[16] ~= '' and rank[ARGV[16]] > rank[state] then
  state = ARGV[16]
  redis.call('HSET', KEYS[1], 'state', state)
end
if ARGV[11] == 'call.hangup' then
  if ARGV[15] ~= '' then redis.call('HSET', KEYS[1], 'hangupCause', ARGV[15]) end
  if redis.call('HEXISTS', KEYS[1], 'endedAt') == 0 then redis.call('HSET', KEYS[1], 'endedAt', ARGV[12]) end
  markUnsettled(KEYS[1], KEYS[4], ARGV[1], tonumber(ARGV[6]))
end
if ARGV[11] == 'call.answered' then
  local answered = redis.call('HGET', KEYS[1], 'answeredAt')
  if not answered or ARGV[12] < answered then redis.call('HSET', KEYS[1], 'answeredAt', ARGV[12]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {redis.call('HGET', KEYS[1], 'owner') or '', redis.call('HGET', KEYS[1], 'locked'), state}
`;

/**
 * KEYS: record, timeline, unsettled index. ARGV: ttl s, id, then field/value pairs ('' value:
 * delete the field). Billing written takes the call off the unsettled index.
 * Returns 1, or 0 when the record does not exist (nothing is created).
 */
export const PATCH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  if ARGV[i] == 'billing' and ARGV[i + 1] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
`;

/**
 * KEYS: record, unsettled index. ARGV: id, now ms. The platform hung the call up: on the unsettled
 * index whatever its state, if it is owned and not billed (NX: kept at its first time).
 */
export const HUNG_UP_SCRIPT = `
if redis.call('HGET', KEYS[1], 'locked') == '1' and redis.call('HEXISTS', KEYS[1], 'owner') == 1
  and redis.call('HEXISTS', KEYS[1], 'billing') == 0 then
  redis.call('ZADD', KEYS[2], 'NX', tonumber(ARGV[2]), ARGV[1])
end
return 1
`;
