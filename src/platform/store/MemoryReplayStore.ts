/** The embedded replay store: the shared ReplayCache (src/wire) behind the ReplayStore contract. */
import { ReplayCache } from '../../wire/ReplayCache.js';
import type { ReplayStore } from './ReplayStore.js';

export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory' as const;
  readonly #cache: ReplayCache;

  constructor(ttlMs: number, maxEntries?: number) {
    this.#cache = new ReplayCache(ttlMs, maxEntries);
  }

  async checkAndRemember(key: string, nowMs: number): Promise<boolean> {
    return this.#cache.checkAndRemember(key, nowMs);
  }

  async forget(key: string): Promise<void> {
    this.#cache.forget(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
