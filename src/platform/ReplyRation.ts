/**
 * How often one control connection is answered when the platform refuses its
 * frames for what they are (rate limited, unknown type, malformed report). A
 * reply per refused frame turns a flood of tiny frames (`{}`, 2 bytes) into
 * sixty times as many bytes queued on the platform for a client that may
 * never read them: each kind is answered once per window, the rest counted.
 *
 * A rate-limited usage report is not rationed here: it is answered by name
 * (the gateway sends it again when told, src/control/ControlChannel.ts, at
 * its own backoff, often several times a second), its answer is no larger
 * than the report itself, and what waits for a connection is bounded anyway
 * (ControlHub's send-queue limit).
 */
export interface ReplyRationOptions {
  windowMs?: number;
  now?: () => number;
}

const DEFAULT_WINDOW_MS = 1_000;

export class ReplyRation {
  readonly #windowMs: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  readonly #answered = new Set<string>();

  constructor(options: ReplyRationOptions = {}) {
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#now = options.now ?? Date.now;
  }

  /** True when a refusal of this kind (a small fixed set) may be answered now; counts it. */
  take(kind: string): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#answered.clear();
    }
    if (this.#answered.has(kind)) return false;
    this.#answered.add(kind);
    return true;
  }
}
