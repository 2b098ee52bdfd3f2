/**
 * How often one control connection is answered when the platform refuses its
 * frames (rate limited, unknown type, malformed report). A reply per refused
 * frame turns a flood of tiny frames (`{}`, 2 bytes) into fifty times as many
 * bytes queued on the platform for a client that may never read them.
 *
 * Per window, each anonymous kind of refusal is answered once; a rate-limited
 * usage report is answered by name (the gateway sends it again when told,
 * src/control/ControlChannel.ts) up to `namedPerWindow` times, the gateway's
 * own flush batch. Past that the report simply waits for the gateway's next
 * hello, as with a platform that never names it.
 */
export interface ReplyRationOptions {
  windowMs?: number;
  namedPerWindow?: number;
  now?: () => number;
}

const DEFAULT_WINDOW_MS = 1_000;
const DEFAULT_NAMED_PER_WINDOW = 10;

export class ReplyRation {
  readonly #windowMs: number;
  readonly #namedPerWindow: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  readonly #answered = new Set<string>();
  #named = 0;

  constructor(options: ReplyRationOptions = {}) {
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#namedPerWindow = options.namedPerWindow ?? DEFAULT_NAMED_PER_WINDOW;
    this.#now = options.now ?? Date.now;
  }

  /** True when a refusal of this kind may be answered now (and counts it); `named`: it names a usage report. */
  take(kind: string, named: boolean): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#answered.clear();
      this.#named = 0;
    }
    if (named) {
      if (this.#named >= this.#namedPerWindow) return false;
      this.#named++;
      return true;
    }
    if (this.#answered.has(kind)) return false;
    this.#answered.add(kind);
    return true;
  }
}
