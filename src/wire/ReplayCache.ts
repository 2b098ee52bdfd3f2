/**
 * Remembers verified webhook identities for as long as their signature could
 * still pass the timestamp check, so a captured event cannot be re-sent
 * (FAQ-05). An entry lives until the caller's expiry (the event's signed
 * timestamp plus the tolerance: after that the signature is stale anyway),
 * and never longer than the cache's TTL from now.
 *
 * Bounded, and fails closed when full: forgetting an identity whose
 * signature is still fresh would let its event be replayed, so when every
 * entry is still needed a new event is refused (ReplayCacheFullError; the
 * webhook is answered 503 and the provider retries it once entries expire).
 */
export class ReplayCacheFullError extends Error {
  override readonly name = 'ReplayCacheFullError';
}

export class ReplayCache {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  // Insertion order is nearly expiry order (expiries come from signed timestamps a few seconds
  // apart): expiry sweeps from the front and stops at the first live entry, so a live entry is
  // never dropped, and an expired one behind it is only kept a little longer.
  readonly #seen = new Map<string, number>();

  constructor(ttlMs: number, maxEntries = 100_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  /**
   * True if any key was seen and is still remembered (a replay or a duplicate delivery); the
   * others are then remembered too where there is room. Otherwise remembers every key until
   * `expiresAtMs` (at most the TTL from now) and returns false. Throws ReplayCacheFullError,
   * remembering nothing, when a new event's keys do not fit.
   */
  check(keys: readonly string[], nowMs: number, expiresAtMs: number = nowMs + this.#ttlMs): boolean {
    this.#expire(nowMs);
    const until = Math.min(expiresAtMs, nowMs + this.#ttlMs);
    const seen = keys.some((key) => (this.#seen.get(key) ?? 0) > nowMs);
    if (!seen && this.#seen.size + keys.length > this.#maxEntries) {
      throw new ReplayCacheFullError(`replay cache full: ${this.#seen.size} identities still within their window (at most ${this.#maxEntries})`);
    }
    for (const key of keys) {
      if ((this.#seen.get(key) ?? 0) > nowMs) continue;
      if (seen && this.#seen.size >= this.#maxEntries) break;
      // A key whose entry expired but still sits behind a live one: re-inserted at the end, in order.
      this.#seen.delete(key);
      this.#seen.set(key, until);
    }
    return seen;
  }

  /** One key: true if it was seen within its window; otherwise records it and returns false. */
  checkAndRemember(key: string, nowMs: number, expiresAtMs?: number): boolean {
    return this.check([key], nowMs, expiresAtMs);
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

  get maxEntries(): number {
    return this.#maxEntries;
  }

  /** Drops identities past their window (check() does it too, as it goes). */
  expire(nowMs: number): void {
    this.#expire(nowMs);
  }

  #expire(nowMs: number): void {
    for (const [key, expiresAt] of this.#seen) {
      if (expiresAt > nowMs) break;
      this.#seen.delete(key);
    }
  }
}
