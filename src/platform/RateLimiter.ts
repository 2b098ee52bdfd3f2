/**
 * Per-deployment token buckets (FAQ-14: the platform applies rate limits on
 * every request a gateway makes). Refill is continuous; a request costs one
 * token. The clock is injectable so tests need no sleeping.
 */
export interface RateLimiterOptions {
  /** Tokens added per second (default 20). */
  ratePerSec?: number;
  /** Bucket size, the largest burst (default 40). */
  burst?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Buckets idle this long are full again and can be forgotten. */
const PRUNE_EVERY = 1024;

export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #takes = 0;

  constructor(options: RateLimiterOptions = {}) {
    this.#rate = options.ratePerSec ?? 20;
    this.#burst = options.burst ?? 40;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Takes one token for key; false when the bucket is empty. */
  take(key: string): boolean {
    return this.takeUpTo(key, 1) === 1;
  }

  /** Takes up to `want` whole tokens for key; how many it got (0 when the bucket is empty). */
  takeUpTo(key: string, want: number): number {
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#burst, updatedMs: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.#rate);
    bucket.updatedMs = now;
    this.#buckets.set(key, bucket);
    this.#takes += 1;
    if (this.#takes % PRUNE_EVERY === 0) this.#prune(now);
    const granted = Math.max(0, Math.min(want, Math.floor(bucket.tokens)));
    bucket.tokens -= granted;
    return granted;
  }

  /** Milliseconds until one token is back (0 when one is there). */
  retryAfterMs(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.ceil(((1 - bucket.tokens) * 1000) / this.#rate);
  }

  /** Seconds until one token is back, for Retry-After. */
  retryAfterSec(key: string): number {
    const bucket = this.#buckets.get(key);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate));
  }

  #prune(now: number): void {
    const fullAfterMs = (this.#burst / this.#rate) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.updatedMs > fullAfterMs) this.#buckets.delete(key);
    }
  }
}
