/** The embedded replay store: the shared ReplayCache (src/wire) behind the ReplayStore contract. */
import { ErrorCodes, TtmaError } from '../../errors.js';
import { ReplayCache, ReplayCacheFullError } from '../../wire/ReplayCache.js';
import type { ReplayStore } from './ReplayStore.js';

export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory' as const;
  readonly #cache: ReplayCache;

  constructor(ttlMs: number, maxEntries?: number) {
    this.#cache = new ReplayCache(ttlMs, maxEntries);
  }

  /** Full of event ids still within their window: refused as a store that cannot answer (503, the provider retries). */
  async checkAndRemember(key: string, nowMs: number): Promise<boolean> {
    try {
      return this.#cache.checkAndRemember(key, nowMs);
    } catch (err) {
      if (err instanceof ReplayCacheFullError) throw new TtmaError(ErrorCodes.STORE_UNAVAILABLE, err.message, 503);
      throw err;
    }
  }

  async forget(key: string): Promise<void> {
    this.#cache.forget(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
