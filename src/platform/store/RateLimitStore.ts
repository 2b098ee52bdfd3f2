/**
 * The signalling proxy's per-deployment token buckets (FAQ-14: rate limits on
 * every request a gateway makes), whatever holds them. A bucket refills
 * continuously at `ratePerSec` up to `burst`; `take` removes up to `want`
 * whole tokens at once, atomically, and says how many it got.
 *
 * MemoryRateLimitStore keeps the buckets in this process (the default);
 * RedisRateLimitStore keeps them in Redis (one Lua script per take, the
 * server's clock), so every platform process on that Redis draws on the same
 * budget. test/platform/rateLimitStore.test.ts runs one suite against both.
 */
import type { StoreKind } from './CapStore.js';

export interface RateLimitSettings {
  /** Tokens added per second. */
  ratePerSec: number;
  /** Bucket size, the largest burst. */
  burst: number;
}

export interface TakeResult {
  /** Whole tokens taken, 0 to `want`. */
  granted: number;
  /** When fewer than `want` were granted: ms until one token is back, else 0. */
  retryAfterMs: number;
}

export interface RateLimitStore {
  readonly kind: StoreKind;
  readonly settings: RateLimitSettings;
  take(key: string, want: number): Promise<TakeResult>;
  ping(): Promise<void>;
  ready?(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { ratePerSec: 20, burst: 40 };
