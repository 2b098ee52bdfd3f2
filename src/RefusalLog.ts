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
import { WindowedBurst } from './WindowedBurst.js';

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

/** What a kind's summary line is written with: from its first refusal of the window. */
interface Summary {
  level: Level;
  what: string;
  fields: Record<string, unknown>;
}

export class RefusalLog {
  readonly #log: RefusalLines;
  readonly #burst: WindowedBurst<Summary>;

  constructor(log: RefusalLines, options: RefusalLogOptions = {}) {
    this.#log = log;
    this.#burst = new WindowedBurst<Summary>({
      burst: options.burst ?? 10,
      windowMs: options.windowMs ?? 10_000,
      maxKeys: options.maxKinds ?? 64,
      overflowKey: '(other)',
      ...(options.now ? { now: options.now } : {}),
      summarize: ({ key, held, detail, elapsedMs }) => {
        const seconds = Math.max(1, Math.round(elapsedMs / 1000));
        this.#log[detail.level](
          { ...detail.fields, kind: key, suppressed: held, windowS: seconds },
          `${detail.what}: ${held} more like this in the last ${seconds} s, counted but not logged one by one`,
        );
      },
    });
  }

  /**
   * Writes `fields`/`what` at `level` unless this kind has used its lines for
   * the window; then it is counted for the window's summary line.
   * `summaryFields` (bounded, non-identifying: a code, an audit mark) go on that line.
   */
  write(kind: string, level: Level, fields: Record<string, unknown>, what: string, summaryFields: Record<string, unknown> = {}): void {
    if (this.#burst.admit(kind, { level, what, fields: summaryFields })) this.#log[level](fields, what);
  }

  /** Writes the summary of the window that is ending and starts a new one at `now`. */
  flush(now?: number): void {
    this.#burst.flush(now);
  }

  /** Writes what is pending; for shutdown. */
  close(): void {
    this.#burst.flush();
  }
}
