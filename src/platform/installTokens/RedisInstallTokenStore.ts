/**
 * Install tokens in Redis: each token under its own key with a server-side
 * TTL, a set per deployment naming its outstanding token ids (the index
 * revocation reads), and one Lua script per change, so the token and the
 * index change together: Redis runs a script without interleaving any other
 * command, so two concurrent redemptions cannot both get the envelope and a
 * revocation cannot miss a token being stored.
 *
 * The connection is the platform's shared one (src/platform/store/redisClient.ts):
 * no offline queue, no resend of a command whose reply was lost (a resent
 * take would find its own deletion and answer "absent", a resent SET NX would
 * find its own key), a short command timeout. A lost reply therefore fails as
 * TTMA_ERR_STORE_UNAVAILABLE (503) and is never replayed; the installer says
 * the token may be spent (src/installer/redeem.ts).
 *
 * The scripts reach the index and token keys they derive from the record or
 * the index (not all passed in KEYS): fine on a single Redis, not on Cluster.
 */
import type { InstallEnvelope } from '../../wire/installToken.js';
import { RedisBackedStore } from '../store/redisClient.js';
import {
  MAX_AUDIT_ENTRIES,
  type InstallAuditEntry,
  type InstallTokenStore,
  type StoredInstallToken,
  type TakeResult,
} from './InstallTokenStore.js';

/** 0: the id was taken; 1: stored and indexed. The index lives as long as its newest token. */
const PUT_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`;

/** 0: absent; 1: wrong secret (kept); otherwise the record, already deleted and unindexed. */
const TAKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if r.secretSha256 ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. r.envelope.deploymentId, ARGV[3])
return v
`;

/** The record, deleted and unindexed; nil when absent. */
const REVOKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. cjson.decode(v).envelope.deploymentId, ARGV[2])
return v
`;

/** Every indexed token but ARGV[2], deleted; the records that were still stored. */
const REVOKE_DEPLOYMENT_SCRIPT = `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] then
    redis.call('SREM', KEYS[1], id)
    local v = redis.call('GET', ARGV[1] .. id)
    if v then
      redis.call('DEL', ARGV[1] .. id)
      out[#out + 1] = v
    end
  end
end
return out
`;

export interface RedisInstallTokenStoreOptions {
  url: string;
  /** Prefix for every key, so the platform's other stores can share the database. */
  prefix?: string;
  /** Per command (default: the shared client's). */
  commandTimeoutMs?: number;
}

export class RedisInstallTokenStore extends RedisBackedStore implements InstallTokenStore {
  readonly #prefix: string;

  constructor(options: RedisInstallTokenStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma:install:';
  }

  #key(id: string): string {
    return `${this.#prefix}token:${id}`;
  }

  get #indexPrefix(): string {
    return `${this.#prefix}deployment:`;
  }

  async put(record: StoredInstallToken, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError('install token TTL must be positive');
    const { id, deploymentId } = record.envelope;
    const stored = await this.run(() =>
      this.redis.eval(PUT_SCRIPT, 2, this.#key(id), this.#indexPrefix + deploymentId, JSON.stringify(record), String(Math.ceil(ttlMs)), id),
    );
    if (stored !== 1) throw new Error('install token id already stored');
  }

  async take(id: string, secretSha256: string, nowMs: number): Promise<TakeResult> {
    const result = (await this.run(() => this.redis.eval(TAKE_SCRIPT, 1, this.#key(id), secretSha256, this.#indexPrefix, id))) as number | string;
    if (result === 0) return { kind: 'absent' };
    if (result === 1) return { kind: 'bad-secret' };
    const record = JSON.parse(String(result)) as StoredInstallToken;
    // PX is authoritative; a record past its own expiry (clock skew) is still refused.
    if ((record.envelope as InstallEnvelope).expiresAt <= nowMs) return { kind: 'absent' };
    return { kind: 'taken', record };
  }

  async revoke(id: string): Promise<StoredInstallToken | null> {
    const result = (await this.run(() => this.redis.eval(REVOKE_SCRIPT, 1, this.#key(id), this.#indexPrefix, id))) as string | null;
    return result === null ? null : (JSON.parse(result) as StoredInstallToken);
  }

  async revokeDeployment(deploymentId: string, keepId = ''): Promise<StoredInstallToken[]> {
    const result = (await this.run(() =>
      this.redis.eval(REVOKE_DEPLOYMENT_SCRIPT, 1, this.#indexPrefix + deploymentId, this.#key(''), keepId),
    )) as string[];
    return result.map((s) => JSON.parse(s) as StoredInstallToken);
  }

  async appendAudit(entry: InstallAuditEntry): Promise<void> {
    const key = `${this.#prefix}audit`;
    await this.run(() => this.redis.multi().lpush(key, JSON.stringify(entry)).ltrim(key, 0, MAX_AUDIT_ENTRIES - 1).exec());
  }

  async audit(): Promise<InstallAuditEntry[]> {
    const items = await this.run(() => this.redis.lrange(`${this.#prefix}audit`, 0, MAX_AUDIT_ENTRIES - 1));
    return items.map((s) => JSON.parse(s) as InstallAuditEntry);
  }

  async has(id: string): Promise<boolean> {
    return (await this.run(() => this.redis.exists(this.#key(id)))) === 1;
  }

  /** Raw access for tests that prove what Redis holds (never used by the platform). */
  async rawKeysForTest(): Promise<string[]> {
    return this.redis.keys(`${this.#prefix}*`);
  }
}
