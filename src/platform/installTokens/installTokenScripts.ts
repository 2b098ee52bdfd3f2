/**
 * The Lua scripts behind RedisInstallTokenStore. Every key a script touches
 * is passed in KEYS and carries its deployment's hash tag `{dep:<id>}`, so on
 * Redis Cluster (or a proxy that routes by key) the token and its
 * deployment's index live in one slot and the script may run there. Redis
 * requires it: "all keys that the script accesses must be explicitly provided
 * as input key arguments", and a multi-key operation needs its keys in one
 * hash slot (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/,
 * https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
 */

/**
 * KEYS: token, index. ARGV: record JSON, TTL ms, token id.
 * 0: the id was taken; 1: stored and indexed. The index lives as long as its newest token.
 */
export const PUT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`;

/**
 * KEYS: token, index. ARGV: secret digest, token id.
 * 0: absent; 1: wrong secret (kept); otherwise the record, already deleted and unindexed.
 */
export const TAKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if cjson.decode(v).secretSha256 ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return v
`;

/** KEYS: token, index. ARGV: token id. The record, deleted and unindexed; nil when absent. */
export const REVOKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return v
`;

/**
 * KEYS: index, then the token key of each id the caller read from the index.
 * ARGV: the id to keep ('' for none), then those ids (ARGV[i] is KEYS[i]'s id).
 * Each named token is unindexed and deleted. Returns {left, records...}: the
 * records that were still stored, and how many ids other than the kept one
 * the index still holds (stored since the caller read it, so not named here:
 * the caller reads again and revokes those too).
 */
export const REVOKE_DEPLOYMENT_SCRIPT = `
local out = {0}
for i = 2, #KEYS do
  redis.call('SREM', KEYS[1], ARGV[i])
  local v = redis.call('GET', KEYS[i])
  if v then
    redis.call('DEL', KEYS[i])
    out[#out + 1] = v
  end
end
out[1] = redis.call('SCARD', KEYS[1]) - redis.call('SISMEMBER', KEYS[1], ARGV[1])
return out
`;
