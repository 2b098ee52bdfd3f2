/**
 * A windowed burst counter: per key, the first `burst` things of each window
 * are let through; the rest are only counted, and when the window ends (on
 * the next call, or from a timer if it goes quiet) each key that held some
 * back is summarized once. One piece for every "N then a count" bound, so they
 * roll windows and arm timers the same way (RefusalLog, AgentErrorBudget).
 */

/** What one key held back in the window that ended. */
export interface HeldBack<T> {
  key: string;
  held: number;
  /** What the key's first call of the window passed in. */
  detail: T;
  /** How long the window that ended ran. */
  elapsedMs: number;
}

export interface WindowedBurstOptions<T> {
  /** Let through per key per window. */
  burst: number;
  windowMs: number;
  /** Called once per key that held something back, after the next window has begun. */
  summarize: (held: HeldBack<T>) => void;
  /** Keys tracked at once; past it, new keys share `overflowKey`. */
  maxKeys?: number;
  overflowKey?: string;
  /** The summary is itself one of the next window's `burst` (it went the same way). */
  summaryUsesBurst?: boolean;
  now?: () => number;
}

interface Entry<T> {
  passed: number;
  held: number;
  detail: T;
}

export class WindowedBurst<T> {
  readonly #options: WindowedBurstOptions<T>;
  readonly #now: () => number;
  #keys = new Map<string, Entry<T>>();
  #windowStart = -Infinity;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: WindowedBurstOptions<T>) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True: let it through. False: counted for the window's summary. */
  admit(key: string, detail: T): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= this.#options.windowMs) this.flush(now);
    const entry = this.#entry(key, detail);
    if (entry.passed < this.#options.burst) {
      entry.passed++;
      return true;
    }
    entry.held++;
    this.#armTimer(now);
    return false;
  }

  /** Summarizes the window that is ending and starts a new one at `now`. */
  flush(now = this.#now()): void {
    const ended = this.#keys;
    const elapsedMs = now - this.#windowStart;
    this.#keys = new Map();
    this.#windowStart = now;
    this.stop();
    for (const [key, entry] of ended) {
      if (entry.held === 0) continue;
      if (this.#options.summaryUsesBurst) this.#keys.set(key, { passed: 1, held: 0, detail: entry.detail });
      this.#options.summarize({ key, held: entry.held, detail: entry.detail, elapsedMs });
    }
  }

  /** Drops the pending timer, without a summary. */
  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #entry(key: string, detail: T): Entry<T> {
    const found = this.#keys.get(key);
    if (found) return found;
    const { maxKeys = Infinity, overflowKey = '(other)' } = this.#options;
    const shared = this.#keys.size < maxKeys ? key : overflowKey;
    let entry = this.#keys.get(shared);
    if (!entry) {
      entry = { passed: 0, held: 0, detail };
      this.#keys.set(shared, entry);
    }
    return entry;
  }

  // A quiet period after a flood still gets its summary.
  #armTimer(now: number): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, Math.max(0, this.#windowStart + this.#options.windowMs - now));
    this.#timer.unref();
  }
}
