/**
 * Bytes of request bodies one thread holds while they arrive, across every
 * request at once. Each body is capped on its own (64 KiB for a webhook) and
 * must arrive within its read timeout, but nothing bounded how many arrive at
 * once: 10,000 connections each trickling 63 KiB would hold 630 MB for up to
 * 10 s. Past the budget a body is refused (503: the provider retries), and
 * what the other bodies hold stays bounded.
 */
export class BodyBudget {
  readonly #maxBytes: number;
  #held = 0;

  constructor(maxBytes: number) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError('a body budget is a whole number of bytes, at least 1');
    this.#maxBytes = maxBytes;
  }

  /** Holds `bytes` more, or nothing and false when that would pass the budget. */
  take(bytes: number): boolean {
    if (this.#held + bytes > this.#maxBytes) return false;
    this.#held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }

  get held(): number {
    return this.#held;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }
}
