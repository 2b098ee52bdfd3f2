/**
 * Settlements a platform stop cut short are picked up again (FAQ-14: a
 * call's minutes must not stay held, nor go unbilled, because a deploy or a
 * crash came in the minutes its provider record takes). The call store keeps
 * an index of the ended calls of a deployment not billed yet
 * (CallStore.unsettled: written when the hang-up is recorded, or when the
 * platform hangs the call up itself, cleared when billing is); this reads it and hands each call to Settlement.resume, which
 * goes on with the record's window from the call's end.
 *
 * When: once at start, in the background (the start never waits for it), and
 * again until one pass has read the whole index (Redis unreachable at start:
 * tried again every `retryMs`). Then every `intervalMs`, for the calls whose
 * settlement is older than any settler still running would take
 * (`staleAfterMs`: another process stopped or crashed meanwhile). The calls
 * this process is settling are skipped; two processes resuming one call both
 * look for its record, and the cap store's settle applies it once.
 *
 * Bounded: the index is read a page at a time, oldest first, at most
 * `maxPerSweep` calls a pass, with a pause after each page that started
 * settlements (each looks at the provider's records once at once), so a
 * start after a long outage neither stalls nor floods the provider. Calls
 * not reached in a pass are in the next one.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallStore } from './store/CallStore.js';
import type { Settlement } from './Settlement.js';

export interface SettlementSweepOptions {
  store: Pick<CallStore, 'unsettled'>;
  settlement: Pick<Settlement, 'resume' | 'settling'>;
  logger: Logger;
  /** An index entry older than this is a settlement nobody is running any more (the window and a margin). */
  staleAfterMs: number;
  /** Between two passes once the index was read whole (default 60 s). */
  intervalMs?: number;
  /** Before trying again a pass the store did not answer (default 5 s). */
  retryMs?: number;
  /** Index entries read at once (default 100). */
  pageSize?: number;
  /** Pause after a page that started settlements (default 1 s). */
  pageGapMs?: number;
  /** Settlements a pass starts at most (default 10 000). */
  maxPerSweep?: number;
  now?: () => number;
}

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_RETRY_MS = 5_000;
const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_PAGE_GAP_MS = 1_000;
const DEFAULT_MAX_PER_SWEEP = 10_000;

export class SettlementSweep {
  readonly #o: SettlementSweepOptions;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  /** Until a pass has read the whole index, every entry is resumed, however recent. */
  #wholeRead = false;
  #failing = false;

  constructor(options: SettlementSweepOptions) {
    this.#o = options;
  }

  /** The first pass, at once but in the background. */
  start(): void {
    this.#schedule(0);
  }

  close(): void {
    this.#stop.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(ms: number): void {
    if (this.#stop.signal.aborted) return;
    this.#timer = setTimeout(() => void this.#pass(), ms);
    // A platform stopping is not held up by its next pass.
    this.#timer.unref();
  }

  async #pass(): Promise<void> {
    try {
      const started = await this.sweep(!this.#wholeRead);
      if (started > 0 || !this.#wholeRead) this.#o.logger.info({ resumed: started, whole: !this.#wholeRead }, 'unsettled calls resumed');
      this.#wholeRead = true;
      this.#failing = false;
      this.#schedule(this.#o.intervalMs ?? DEFAULT_INTERVAL_MS);
    } catch (err) {
      if (this.#stop.signal.aborted) return;
      const retryMs = this.#o.retryMs ?? DEFAULT_RETRY_MS;
      // Once per outage: the store's own state is on /readyz.
      if (!this.#failing) this.#o.logger.warn({ code: isTtmaError(err) ? err.code : undefined, retryMs }, 'unsettled calls could not be read (store unreachable): tried again in the background');
      this.#failing = true;
      this.#schedule(retryMs);
    }
  }

  /**
   * One pass: `all` resumes every unsettled call, otherwise only those older than staleAfterMs.
   * Resolves with how many settlements it started (they run on); rejects when the store does not answer.
   */
  async sweep(all: boolean): Promise<number> {
    const pageSize = this.#o.pageSize ?? DEFAULT_PAGE_SIZE;
    const max = this.#o.maxPerSweep ?? DEFAULT_MAX_PER_SWEEP;
    const cutoff = all ? Infinity : (this.#o.now ?? Date.now)() - this.#o.staleAfterMs;
    const seen = new Set<string>();
    let fromMs = 0;
    let limit = pageSize;
    let started = 0;
    while (started < max && !this.#stop.signal.aborted) {
      const page = await this.#o.store.unsettled(limit, fromMs);
      let fresh = 0;
      let startedHere = 0;
      let pastCutoff = false;
      for (const { callControlId, sinceMs } of page) {
        if (seen.has(callControlId)) continue;
        seen.add(callControlId);
        fresh++;
        // Oldest first: the rest are newer still.
        if (sinceMs > cutoff) {
          pastCutoff = true;
          break;
        }
        if (this.#o.settlement.settling(callControlId)) continue;
        startedHere++;
        void this.#o.settlement.resume(callControlId, sinceMs).catch((err: unknown) =>
          this.#o.logger.warn({ callId: callControlId, code: isTtmaError(err) ? err.code : undefined }, 'a resumed settlement failed: the call stays unsettled for a later pass'),
        );
        if (started + startedHere >= max) break;
      }
      started += startedHere;
      const last = page.at(-1);
      if (pastCutoff || page.length < limit || !last) break;
      // From the last time read (ids of that time already seen are skipped). A page all seen is a time
      // more calls share than a page holds: read it again, larger, rather than skip the rest of them.
      fromMs = last.sinceMs;
      limit = fresh === 0 ? limit * 2 : pageSize;
      if (startedHere > 0) {
        try {
          await delay(this.#o.pageGapMs ?? DEFAULT_PAGE_GAP_MS, undefined, { signal: this.#stop.signal, ref: false });
        } catch {
          break;
        }
      }
    }
    return started;
  }
}
