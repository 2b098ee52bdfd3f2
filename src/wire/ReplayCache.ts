/**
 * Remembers verified webhook identities for the timestamp window, so a
 * captured event cannot be re-sent (FAQ-05). Bounded: when full, the oldest
 * entries go first; an entry older than the window cannot pass the
 * timestamp check anyway, so forgetting it is safe.
 */
export class ReplayCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  // Map keeps insertion order, which is expiry order since the TTL is fixed.
  readonly #seen = new Map<string, number>();

  constructor(ttlMs: number, maxEntries = 100_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  /** True if the key was seen within the window; otherwise records it and returns false. */
  checkAndRemember(key: string, nowMs: number): boolean {
    this.#expire(nowMs);
    const expiresAt = this.#seen.get(key);
    if (expiresAt !== undefined && expiresAt > nowMs) return true;
    this.#seen.set(key, nowMs + this.#ttlMs);
    while (this.#seen.size > this.#maxEntries) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return false;
  }

  /** Forgets a key: its event was not processed after all (e.g. the store was away), so a retry must pass. */
  forget(key: string): void {
    this.#seen.delete(key);
  }

  has(key: string, nowMs: number): boolean {
    const expiresAt = this.#seen.get(key);
    return expiresAt !== undefined && expiresAt > nowMs;
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(nowMs: number): void {
    for (const [key, expiresAt] of this.#seen) {
      if (expiresAt > nowMs) break;
      this.#seen.delete(key);
    }
  }
}
