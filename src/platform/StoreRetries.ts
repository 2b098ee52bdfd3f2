/**
 * Idempotent store writes that must land even though the store did not answer
 * when they were first needed: giving back a reservation whose admission's
 * reply was lost, stopping a live call's top-ups. Each is retried in the
 * background with capped backoff until it succeeds or the process stops (then
 * it is logged for the operator). Only writes that are safe to repeat at any
 * time belong here: each attempt may itself run late.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';

export interface StoreRetriesOptions {
  logger: Logger;
  /** First wait between attempts (default 250 ms), doubling up to `maxMs` (default 5 s). */
  baseMs?: number;
  maxMs?: number;
  /** Writes held at once (default 10 000); past it the oldest is dropped and logged. */
  maxPending?: number;
}

interface Pending {
  what: string;
  fields: Record<string, unknown>;
  write: () => Promise<unknown>;
  timer: NodeJS.Timeout | null;
}

export class StoreRetries {
  readonly #o: StoreRetriesOptions;
  readonly #pending = new Set<Pending>();
  #closed = false;

  constructor(options: StoreRetriesOptions) {
    this.#o = options;
  }

  /** Writes not applied yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Retries `write` until it succeeds; the first attempt is made after the first backoff. */
  schedule(what: string, fields: Record<string, unknown>, write: () => Promise<unknown>): void {
    if (this.#closed) return this.#abandon({ what, fields, write, timer: null }, 'the platform is stopping');
    const maxPending = this.#o.maxPending ?? 10_000;
    if (this.#pending.size >= maxPending) {
      const oldest = this.#pending.values().next().value as Pending;
      this.#drop(oldest);
      this.#abandon(oldest, `more than ${maxPending} writes waiting`);
    }
    const entry: Pending = { what, fields, write, timer: null };
    this.#pending.add(entry);
    this.#later(entry, 1);
  }

  /** Stops retrying; what is still pending is logged, to be applied by hand. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#pending]) {
      this.#drop(entry);
      this.#abandon(entry, 'the platform is stopping');
    }
  }

  #later(entry: Pending, attempt: number): void {
    const base = this.#o.baseMs ?? 250;
    const wait = Math.min(this.#o.maxMs ?? 5_000, base * 2 ** Math.min(attempt - 1, 16));
    entry.timer = setTimeout(() => {
      entry.timer = null;
      entry.write().then(
        () => {
          if (!this.#pending.delete(entry)) return;
          this.#o.logger.info({ ...entry.fields, attempts: attempt }, `${entry.what}: done once the store answered`);
        },
        () => {
          if (this.#pending.has(entry) && !this.#closed) this.#later(entry, attempt + 1);
        },
      ).catch((err: unknown) => {
        this.#o.logger.error({ ...entry.fields, code: isTtmaError(err) ? err.code : undefined }, `${entry.what}: retry failed`);
      });
    }, wait);
    entry.timer.unref();
  }

  #drop(entry: Pending): void {
    if (entry.timer) clearTimeout(entry.timer);
    this.#pending.delete(entry);
  }

  #abandon(entry: Pending, why: string): void {
    this.#o.logger.error(entry.fields, `${entry.what}: not done (${why}): apply it by hand`);
  }
}
