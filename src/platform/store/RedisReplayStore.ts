/**
 * The ReplayStore contract on Redis: one key per event id, written with
 * `SET NX PX` (one atomic command, so no script is needed), expiring with the
 * window. The key is tagged with its own id: a single-key command runs in
 * whatever Cluster slot that gives. Ids are hashed (SHA-256) so a provider's
 * id of any shape makes a key of fixed size and alphabet.
 * Fails closed: while Redis is unreachable every check fails with
 * TTMA_ERR_STORE_UNAVAILABLE, and the platform refuses the webhook (503) so
 * the provider retries it later.
 */
import { createHash } from 'node:crypto';
import { RedisBackedStore } from './redisClient.js';
import type { ReplayStore } from './ReplayStore.js';

export interface RedisReplayStoreOptions {
  url: string;
  /** How long an id is remembered (the platform passes twice the 300 s signature tolerance). */
  ttlMs: number;
  prefix?: string;
  commandTimeoutMs?: number;
}

export class RedisReplayStore extends RedisBackedStore implements ReplayStore {
  readonly kind = 'redis' as const;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(options: RedisReplayStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.#prefix = options.prefix ?? 'ttma';
    this.#ttlMs = options.ttlMs;
  }

  /** The key an id is remembered under (exported for the key-layout test). */
  keyOf(key: string): string {
    return `${this.#prefix}:{replay:${createHash('sha256').update(key, 'utf8').digest('hex')}}`;
  }

  /** The window runs on Redis's clock (the key's TTL), not the caller's. */
  async checkAndRemember(key: string, _nowMs?: number): Promise<boolean> {
    const set = await this.run(() => this.redis.set(this.keyOf(key), '1', 'PX', this.#ttlMs, 'NX'));
    return set === null;
  }

  async forget(key: string): Promise<void> {
    await this.run(() => this.redis.del(this.keyOf(key)));
  }
}
