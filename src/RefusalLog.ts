/**
 * Log lines for refused requests, bounded. Anyone who can reach a public port
 * can be refused as often as they like (a forged webhook, a guessed media
 * token, a 404): a line per refusal lets them fill the disk, or make
 * journald's per-unit rate limit drop every other line of the service,
 * audit and crash lines included.
 *
 * Per kind of refusal (a reason or error code: a small, fixed set), the first
 * `burst` lines of each window are written as they come; the rest are counted,
 * and when the window ends one line per kind says how many were not written.
 * The counts of every refusal stay in the metrics.
 */
/** Where lines go: pino, or a media worker's relay of lines to the main thread. */
export interface RefusalLines {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export interface RefusalLogOptions {
  /** Lines written per kind per window before the rest are only counted. */
  burst?: number;
  windowMs?: number;
  /** Kinds tracked at once; past it, refusals of new kinds share one. */
  maxKinds?: number;
  now?: () => number;
}

type Level = 'warn' | 'error';

interface Kind {
  written: number;
  suppressed: number;
  level: Level;
  what: string;
  fields: Record<string, unknown>;
}

const OVERFLOW_KIND = '(other)';

export class RefusalLog {
  readonly #log: RefusalLines;
  readonly #burst: number;
  readonly #windowMs: number;
  readonly #maxKinds: number;
  readonly #now: () => number;
  #kinds = new Map<string, Kind>();
  #windowStart = -Infinity;
  #timer: NodeJS.Timeout | null = null;

  constructor(log: RefusalLines, options: RefusalLogOptions = {}) {
    this.#log = log;
    this.#burst = options.burst ?? 10;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#maxKinds = options.maxKinds ?? 64;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Writes `fields`/`what` at `level` unless this kind has used its lines for
   * the window; then it is counted for the window's summary line.
   * `summaryFields` (bounded, non-identifying: a code, an audit mark) go on that line.
   */
  write(kind: string, level: Level, fields: Record<string, unknown>, what: string, summaryFields: Record<string, unknown> = {}): void {
    const now = this.#now();
    if (now - this.#windowStart >= this.#windowMs) this.flush(now);
    let entry = this.#kinds.get(kind);
    if (!entry) {
      const key = this.#kinds.size < this.#maxKinds ? kind : OVERFLOW_KIND;
      entry = this.#kinds.get(key);
      if (!entry) {
        entry = { written: 0, suppressed: 0, level, what, fields: summaryFields };
        this.#kinds.set(key, entry);
      }
    }
    if (entry.written < this.#burst) {
      entry.written++;
      this.#log[level](fields, what);
      return;
    }
    entry.suppressed++;
    this.#armTimer();
  }

  /** Writes the summary of the window that is ending and starts a new one at `now`. */
  flush(now = this.#now()): void {
    for (const [kind, entry] of this.#kinds) {
      if (entry.suppressed === 0) continue;
      const seconds = Math.max(1, Math.round((now - this.#windowStart) / 1000));
      this.#log[entry.level](
        { ...entry.fields, kind, suppressed: entry.suppressed, windowS: seconds },
        `${entry.what}: ${entry.suppressed} more like this in the last ${seconds} s, counted but not logged one by one`,
      );
    }
    this.#kinds = new Map();
    this.#windowStart = now;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }

  /** Writes what is pending; for shutdown. */
  close(): void {
    this.flush();
  }

  // A quiet period after a flood still gets its summary line.
  #armTimer(): void {
    if (this.#timer) return;
    const due = Math.max(0, this.#windowStart + this.#windowMs - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, due);
    this.#timer.unref();
  }
}
