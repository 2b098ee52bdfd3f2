/**
 * The RateLimitStore contract on Redis: every platform process on one Redis
 * shares each deployment's bucket. Fails closed like the other stores
 * (StoreConnection): an unreachable Redis fails each take at once with
 * TTMA_ERR_STORE_UNAVAILABLE.
 */
import { RedisBackedStore } from './redisClient.js';
import { DEFAULT_RATE_LIMIT, type RateLimitSettings, type RateLimitStore, type TakeResult } from './RateLimitStore.js';
import { TAKE_SCRIPT } from './rateLimitScripts.js';

export interface RedisRateLimitStoreOptions {
  url: string;
  prefix?: string;
  settings?: RateLimitSettings;
  commandTimeoutMs?: number;
}

export class RedisRateLimitStore extends RedisBackedStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  readonly settings: RateLimitSettings;
  readonly #prefix: string;
  /** A bucket left alone this long is full again, so its key can go. */
  readonly #ttlMs: number;

  constructor(options: RedisRateLimitStoreOptions) {
    super(options.url, options.commandTimeoutMs);
    this.settings = { ...(options.settings ?? DEFAULT_RATE_LIMIT) };
    this.#prefix = options.prefix ?? 'ttma';
    this.redis.defineCommand('ttmaTakeTokens', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    this.#ttlMs = Math.ceil((this.settings.burst / this.settings.ratePerSec) * 1000) + 1_000;
  }

  /** The bucket's key (exported for the key-layout test). */
  keyOf(key: string): string {
    return `${this.#prefix}:{rl:${key}}:bucket`;
  }

  async take(key: string, want: number): Promise<TakeResult> {
    const reply = (await this.run(() =>
      (this.redis as unknown as { ttmaTakeTokens(...args: (string | number)[]): Promise<unknown> }).ttmaTakeTokens(
        this.keyOf(key), this.settings.ratePerSec, this.settings.burst, want, this.#ttlMs,
      ),
    )) as [number, number];
    return { granted: Number(reply[0]), retryAfterMs: Number(reply[1]) };
  }
}
