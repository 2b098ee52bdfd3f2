/** The embedded rate-limit store: RateLimiter's buckets in this process, behind the RateLimitStore contract. */
import { RateLimiter } from '../RateLimiter.js';
import { DEFAULT_RATE_LIMIT, type RateLimitSettings, type RateLimitStore, type TakeResult } from './RateLimitStore.js';

export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory' as const;
  readonly settings: RateLimitSettings;
  readonly #limiter: RateLimiter;

  constructor(settings: RateLimitSettings = DEFAULT_RATE_LIMIT, now?: () => number) {
    this.settings = { ...settings };
    this.#limiter = new RateLimiter({ ...settings, ...(now ? { now } : {}) });
  }

  async take(key: string, want: number): Promise<TakeResult> {
    const granted = this.#limiter.takeUpTo(key, want);
    return { granted, retryAfterMs: granted < want ? this.#limiter.retryAfterMs(key) : 0 };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
