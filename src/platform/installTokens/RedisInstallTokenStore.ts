/**
 * Install tokens in Redis: SET NX PX for the server-side TTL, and one Lua
 * script for redemption that compares the secret digest and deletes in the
 * same atomic step (Redis runs a script without interleaving any other
 * command), so two concurrent redemptions cannot both get the envelope.
 */
import { Redis } from 'ioredis';
import type { InstallEnvelope } from '../../wire/installToken.js';
import {
  MAX_AUDIT_ENTRIES,
  type InstallAuditEntry,
  type InstallTokenStore,
  type StoredInstallToken,
  type TakeResult,
} from './InstallTokenStore.js';

/** 0: absent; 1: wrong secret (kept); otherwise the record, already deleted. */
const TAKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if r.secretSha256 ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
return v
`;

export interface RedisInstallTokenStoreOptions {
  url: string;
  /** Prefix for every key, so the platform's other stores can share the database. */
  prefix?: string;
}

export class RedisInstallTokenStore implements InstallTokenStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: RedisInstallTokenStoreOptions) {
    this.#redis = new Redis(options.url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.#prefix = options.prefix ?? 'ttma:install:';
  }

  #key(id: string): string {
    return `${this.#prefix}token:${id}`;
  }

  async put(record: StoredInstallToken, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError('install token TTL must be positive');
    const ok = await this.#redis.set(this.#key(record.envelope.id), JSON.stringify(record), 'PX', Math.ceil(ttlMs), 'NX');
    if (ok !== 'OK') throw new Error('install token id already stored');
  }

  async take(id: string, secretSha256: string, nowMs: number): Promise<TakeResult> {
    const result = (await this.#redis.eval(TAKE_SCRIPT, 1, this.#key(id), secretSha256)) as number | string;
    if (result === 0) return { kind: 'absent' };
    if (result === 1) return { kind: 'bad-secret' };
    const record = JSON.parse(String(result)) as StoredInstallToken;
    // PX is authoritative; a record past its own expiry (clock skew) is still refused.
    if ((record.envelope as InstallEnvelope).expiresAt <= nowMs) return { kind: 'absent' };
    return { kind: 'taken', record };
  }

  async appendAudit(entry: InstallAuditEntry): Promise<void> {
    const key = `${this.#prefix}audit`;
    await this.#redis.multi().lpush(key, JSON.stringify(entry)).ltrim(key, 0, MAX_AUDIT_ENTRIES - 1).exec();
  }

  async audit(): Promise<InstallAuditEntry[]> {
    const items = await this.#redis.lrange(`${this.#prefix}audit`, 0, MAX_AUDIT_ENTRIES - 1);
    return items.map((s) => JSON.parse(s) as InstallAuditEntry);
  }

  async has(id: string): Promise<boolean> {
    return (await this.#redis.exists(this.#key(id))) === 1;
  }

  /** Raw access for tests that prove what Redis holds (never used by the platform). */
  async rawKeysForTest(): Promise<string[]> {
    return this.#redis.keys(`${this.#prefix}*`);
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
